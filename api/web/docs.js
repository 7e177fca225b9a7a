// The API's reference (/docs): Swagger UI from the fastapi-offline wheel, reading /openapi.json.
// A file of its own, not an inline script: the page's CSP allows scripts of this origin only.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
