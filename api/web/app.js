// scanrag web app: no framework, no build step. Every piece of text that comes from a
// document (OCR text, file names, metadata, errors) is put in the page with textContent,
// never as HTML. The API key lives in sessionStorage (this tab only) and goes in the
// Authorization header, never in a URL: images are fetched and shown through blob URLs.
"use strict";

const KINDS = {};  // block kind -> colour, from the API's vocabulary (/app/kinds.json)
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem("scanrag-key");
const viewer = { doc: null, page: 1, pages: 0, data: null, focus: null, hit: null, markdown: null };
let documentCount = null;  // documents in the last listing: an empty search says what to do

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function say(message, error = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", error);
}

function cleared() {
  // an error stays shown until the next thing the user does succeeds
  if ($("status").classList.contains("error")) say("");
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${key}` });
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error) message = `${body.error.message} [${body.error.code}]`;
    } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

async function blobUrl(path) {
  const response = await api(path);
  return URL.createObjectURL(await response.blob());
}

// the vocabularies the app shows come from the service (core.vocab), never a list of its own:
// every block kind, its label and colour, in the viewer's legend
const kindsLoaded = fetch("/app/kinds.json").then((r) => r.json()).then((vocab) => {
  for (const { kind, label, colour } of vocab.blocks) {
    KINDS[kind] = colour;
    const swatch = el("span", { class: "swatch" });
    swatch.style.borderColor = colour;
    $("legend").append(el("li", { "data-kind": kind }, swatch, label));
  }
}).catch(() => say("The block kinds could not be loaded: boxes are drawn without their colours.", true));

// sign in

async function signIn(candidate) {
  key = candidate;
  try {
    await api("/v1/documents?limit=1");
  } catch (error) {
    key = null;
    sessionStorage.removeItem("scanrag-key");
    $("app").hidden = true;
    $("key-entry").hidden = false;
    $("signout").hidden = true;
    say(error.status === 401 ? "That API key was not accepted." : `Sign-in failed: ${error.message}`, true);
    return;
  }
  sessionStorage.setItem("scanrag-key", key);
  $("app").hidden = false;
  $("key-entry").hidden = true;  // signed in: the key is not left on show or in the field
  $("signout").hidden = false;
  say("Signed in.");
  refreshDocuments();
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("key").value.trim());
  $("key").value = "";
});
$("signout").addEventListener("click", () => {
  sessionStorage.removeItem("scanrag-key");
  key = null;
  $("app").hidden = true;
  $("signout").hidden = true;
  $("key-entry").hidden = false;
  // nothing of the last key's documents stays in the page
  closeViewer();
  for (const id of ["uploads", "hits"]) $(id).replaceChildren();
  $("documents").querySelector("tbody").replaceChildren();
  say("Signed out.");
  $("key").focus();
});

// upload

const chosen = [];
function choose(files) {
  for (const f of files) chosen.push(f);
  say(`${chosen.length} file(s) ready to upload.`);
}
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  choose(e.dataTransfer.files);
});
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); } });
$("files").addEventListener("change", (e) => choose(e.target.files));

$("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const files = chosen.splice(0);
  if (!files.length) { say("Choose files first.", true); return; }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const metadata = $("metadata").value.trim();
  if (metadata) form.append("metadata", metadata);
  try {
    const body = await (await api("/v1/documents", { method: "POST", body: form })).json();
    for (const doc of body.documents) watch(doc);
    say(`Uploaded ${body.documents.length} file(s).`);
  } catch (error) {
    $("uploads").append(el("li", { class: "refused", text: `Refused: ${error.message}` }));
    say(`Upload refused: ${error.message}`, true);
  }
  refreshDocuments();
});

function progressText(doc) {
  const pages = doc.page_count ? `${doc.pages_done}/${doc.page_count} pages` : "";
  const error = doc.error ? ` — ${errorText(doc)}` : "";
  return `${doc.filename}: ${doc.status} ${pages}${error}`;
}

const pagesText = (doc) => (doc.page_count === null ? "" : `${doc.pages_done}/${doc.page_count}`);
const errorText = (doc) => (doc.error ? `${doc.error.message} [${doc.error.code}]` : "");
// id -> the last state a document's event stream told, while the upload list watches it: the
// documents table shows that state too, so the two never disagree
const streamed = new Map();

function showProgress(doc) {
  streamed.set(doc.id, doc);
  const row = $("documents").querySelector(`tbody tr[data-id="${CSS.escape(doc.id)}"]`);
  if (!row) return;
  row.querySelector("td.status").textContent = doc.status;
  row.querySelector("td.pages").textContent = pagesText(doc);
  row.querySelector("td.error").textContent = errorText(doc);
  if (doc.error) $("documents").classList.remove("no-errors");
}

async function watch(doc) {
  // Server-Sent Events read with fetch: EventSource cannot send the Authorization header.
  // The API ends a stream after a while (event: reconnect): it is opened again until the
  // document is done or failed.
  const item = el("li", { text: progressText(doc), "data-id": doc.id });
  $("uploads").append(item);
  let status = doc.status;
  showProgress(doc);
  try {
    while (status !== "done" && status !== "failed" && status !== "deleted") {
      const opened = Date.now();
      const response = await api(`/v1/documents/${encodeURIComponent(doc.id)}/events`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const chunk = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          const state = JSON.parse(data);
          if (!state.status) {  // event: deleted (its data is the id alone)
            status = item.dataset.status = "deleted";
            item.textContent = `${doc.filename}: deleted`;
            continue;
          }
          status = state.status;
          item.textContent = progressText(state);
          item.classList.toggle("refused", state.status === "failed");
          item.dataset.status = state.status;
          showProgress(state);
        }
      }
      // a stream that ended at once (a proxy, a restart) is not reopened in a tight loop
      if (Date.now() - opened < 1000) await new Promise((done) => setTimeout(done, 1000));
    }
  } catch (error) {
    item.textContent = `${doc.filename}: ${error.message}`;
  }
  streamed.delete(doc.id);
  refreshDocuments();
}

// documents

async function refreshDocuments() {
  if (!key) return;
  let page;
  try {
    page = await (await api("/v1/documents?limit=100")).json();
  } catch (error) { say(error.message, true); return; }
  const body = $("documents").querySelector("tbody");
  body.replaceChildren();
  for (const listed of page.documents) {
    const doc = streamed.get(listed.id) || listed;
    const open = el("button", { type: "button", text: "Open", onclick: () => openDocument(doc, 1) });
    open.disabled = doc.status !== "done";
    const remove = el("button", { type: "button", text: "Delete", onclick: () => removeDocument(doc) });
    body.append(el("tr", { "data-id": doc.id },
      el("td", { class: "file", text: doc.filename }), el("td", { class: "status", text: doc.status }),
      el("td", { class: "pages", text: pagesText(doc) }),
      el("td", { class: "error", text: errorText(doc) }),
      el("td", { class: "actions" }, open, remove)));
  }
  documentCount = page.documents.length;
  // the Error column only when a row has one: a phone needs the room for the file names
  $("documents").classList.toggle("no-errors", !page.documents.some((d) => (streamed.get(d.id) || d).error));
  if (!page.documents.length) {
    const columns = $("documents").querySelectorAll("thead th").length;
    body.append(el("tr", { class: "empty-state" }, el("td", { colspan: String(columns),
      text: "No documents yet: drop PDFs or page images on the Upload box (or choose files); once done, search them with Search." })));
  }
}

async function removeDocument(doc) {
  if (!confirm(`Delete ${doc.filename}?`)) return;
  try {
    await api(`/v1/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
    forget(doc.id);
    say(`Deleted ${doc.filename}.`);
  } catch (error) { say(error.message, true); }
  refreshDocuments();
}

function forget(id) {
  // a deleted document leaves the viewer and the hits: nothing left on show points at it
  if (viewer.doc && viewer.doc.id === id) closeViewer();
  for (const hit of $("hits").querySelectorAll("li.hit")) if (hit.dataset.document === id) hit.remove();
}

// viewer

async function openDocument(doc, page, hit = null) {
  if (!viewer.doc || viewer.doc.id !== doc.id) viewer.markdown = null;
  viewer.doc = doc;
  viewer.pages = doc.page_count || 1;
  viewer.hit = hit;
  $("viewer").hidden = false;
  await showPage(page);
  $("viewer").scrollIntoView();
}

function closeViewer() {
  Object.assign(viewer, { doc: null, page: 1, pages: 0, data: null, focus: null, hit: null, markdown: null });
  $("viewer").hidden = true;
  const old = $("page-image").src;
  $("page-image").removeAttribute("src");
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  $("overlay").replaceChildren();
  $("page-text").replaceChildren();
  $("page-label").textContent = "";
}

function box(svg, b, cls, color) {
  const r = document.createElementNS(SVG, "rect");
  r.setAttribute("x", b[0]); r.setAttribute("y", b[1]);
  r.setAttribute("width", Math.max(1, b[2] - b[0])); r.setAttribute("height", Math.max(1, b[3] - b[1]));
  r.setAttribute("class", cls);
  if (color) r.setAttribute("stroke", color);
  svg.append(r);
  return r;
}

async function showPage(number) {
  viewer.page = Math.min(Math.max(1, number), viewer.pages);
  const id = encodeURIComponent(viewer.doc.id);
  $("page-label").textContent = `${viewer.doc.filename} — page ${viewer.page} of ${viewer.pages}`;
  let data;
  try {
    data = await (await api(`/v1/documents/${id}/pages/${viewer.page}`)).json();
    const old = $("page-image").src;
    $("page-image").src = await blobUrl(`/v1/documents/${id}/pages/${viewer.page}/image`);
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  } catch (error) {
    if (error.status === 404) {  // deleted meanwhile (another tab, another client)
      const name = viewer.doc.filename;
      forget(viewer.doc.id);
      say(`${name} is no longer there (deleted).`, true);
      refreshDocuments();
    } else say(error.message, true);
    return;
  }
  viewer.data = data;
  cleared();
  await kindsLoaded;
  drawPage();
}

function pageMarkdown(markdown, page) {
  // the document's Markdown starts each page with <!-- page N --> (read text in it is escaped,
  // so no page can forge one): the part of page N, without the comment
  const parts = markdown.split(/^<!-- page (\d+) -->[ \t]*$/m);
  if (parts.length === 1) return markdown.trim();
  for (let i = 1; i < parts.length; i += 2) if (Number(parts[i]) === page) return parts[i + 1].trim();
  return "";
}

async function showMarkdown(text) {
  // the viewed page's part of the document's Markdown, fetched once per document
  const { doc, page } = viewer;
  if (!viewer.markdown) {
    let markdown;
    try {
      markdown = await (await api(`/v1/documents/${encodeURIComponent(doc.id)}/markdown`)).text();
    } catch (error) { say(error.message, true); return; }
    if (viewer.doc !== doc) return;
    viewer.markdown = markdown;
  }
  if (viewer.doc !== doc || viewer.page !== page || !$("show-markdown").checked) return;
  text.textContent = pageMarkdown(viewer.markdown, page) || "Nothing on this page reads as Markdown (no text was found).";
}

function drawPage() {
  const data = viewer.data;
  const svg = $("overlay");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${data.width} ${data.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const text = $("page-text");
  text.replaceChildren();
  if ($("show-markdown").checked) showMarkdown(text);
  let lineNumber = 0;
  data.blocks.forEach((block) => {
    const color = KINDS[block.kind];
    box(svg, block.bbox, "block", color).dataset.kind = block.kind;
    const part = el("div", { class: "block", "data-kind": block.kind });
    if (color) part.style.borderLeftColor = color;
    let lines = part;
    if (block.table && block.table.cells.length) {
      // the table as read beside the page, its cell grid over it; its lines stay at hand
      part.append(cellTable(svg, block, color));
      lines = el("details", { class: "table-lines" }, el("summary", { text: "Lines as read" }));
      part.append(lines);
    }
    for (const line of block.lines) {
      const n = lineNumber++;
      const rect = box(svg, line.bbox, "line", color);
      const span = el("span", { class: "line", tabindex: "0", text: line.text, "data-line": String(n) });
      linkFocus(rect, span);
      lines.append(span);
    }
    if (!$("show-markdown").checked) text.append(part);
  });
  drawOrder();
  if (viewer.hit && viewer.hit.page === viewer.page) {
    // a hit in a table lights up the cells it matched, not the whole table; a passage the
    // lines that hold its snippet (the sentence to cite), not the whole chunk
    const cells = viewer.hit.cells || [];
    for (const c of cells) box(svg, c.bbox, "hit").dataset.cell = `${c.row},${c.col}`;
    const lines = cells.length ? [] : viewer.hit.lines || [];
    for (const line of lines) box(svg, line.bbox, "hit").dataset.passage = "line";
    if (!cells.length && !lines.length) box(svg, viewer.hit.bbox, "hit");
  }
}

const ORDER_PX = 15;  // reading-order numbers are at least this tall on screen (CSS px)
let orderWidth = 0;  // the page's shown width the numbers were sized for

function drawOrder() {
  // Reading-order numbers, sized for the page as shown (a page scaled down to a phone keeps
  // them readable), each put just left of its block's top-left corner, or else at the nearest
  // spot that covers no other number (and, where one is close by, no block's text): numbers
  // of blocks that start close together never cover each other.
  const svg = $("overlay");
  const old = svg.querySelector("g.order");
  if (old) old.remove();
  const data = viewer.data;
  if (!data || !$("show-order").checked) return;
  orderWidth = $("page-wrap").clientWidth;
  const scale = orderWidth > 0 ? orderWidth / data.width : 1;
  const size = Math.max(28, ORDER_PX / scale);  // in page pixels
  const gap = size * 0.15;
  const group = document.createElementNS(SVG, "g");
  group.setAttribute("class", "order");
  svg.append(group);
  const placed = [];
  const meets = (r, boxes) => boxes.some((p) => r[0] < p[2] && p[0] < r[2] && r[1] < p[3] && p[1] < r[3]);
  const blocks = data.blocks.map((block) => block.bbox);
  data.blocks.forEach((block, b) => {
    const t = document.createElementNS(SVG, "text");
    t.textContent = String(b + 1);
    t.setAttribute("font-size", size.toFixed(1));
    t.setAttribute("stroke-width", (size * 0.18).toFixed(1));
    t.setAttribute("x", "0"); t.setAttribute("y", "0");
    group.append(t);
    // the number's box around its anchor: measured when the page is shown, else estimated
    let m = null;
    try { const r = t.getBBox(); if (r.width > 0) m = [r.x, r.y, r.x + r.width, r.y + r.height]; } catch (_) { /* hidden */ }
    if (!m) m = [0, -size, t.textContent.length * size * 0.62, size * 0.25];
    const w = m[2] - m[0], h = m[3] - m[1];
    const x0 = Math.max(0, block.bbox[0] - w - gap), y0 = block.bbox[1];
    const spots = [];  // half a number's size apart, nearest first, on the page
    for (let i = -8; i <= 8; i++) for (let j = -8; j <= 8; j++) {
      const x = x0 + (i * (w + gap)) / 2, y = y0 + (j * (h + gap)) / 2;
      if (x >= 0 && y >= 0 && x + w <= data.width && y + h <= data.height) spots.push([x, y, Math.hypot(x - x0, y - y0)]);
    }
    spots.sort((a, b) => a[2] - b[2]);
    const around = ([x, y]) => [x - gap, y - gap, x + w + gap, y + h + gap];
    const spot = spots.find((s) => s[2] <= 2 * h && !meets(around(s), placed) && !meets(around(s), blocks))
      || spots.find((s) => !meets(around(s), placed)) || [x0, y0];
    const [x, y] = spot;
    placed.push([x, y, x + w, y + h]);
    t.setAttribute("x", (x - m[0]).toFixed(1));
    t.setAttribute("y", (y - m[1]).toFixed(1));
  });
}

// the page shown wider or narrower (a window resized, a phone turned): numbers sized anew
new ResizeObserver(() => {
  if (viewer.data && $("page-wrap").clientWidth !== orderWidth) drawOrder();
}).observe($("page-wrap"));

function inside(inner, outer) {
  const x = (inner[0] + inner[2]) / 2, y = (inner[1] + inner[3]) / 2;
  return x >= outer[0] && x <= outer[2] && y >= outer[1] && y <= outer[3];
}

function cellTable(svg, block, color) {
  // One grid slot after another: a cell goes where it starts, with its spans; a slot no cell
  // covers gets an empty one, so the table keeps its shape whatever the structure says.
  const { rows, cols, cells } = block.table;
  const hit = viewer.hit && viewer.hit.page === viewer.page ? viewer.hit.cells || [] : [];
  const matched = new Set(hit.filter((c) => inside(c.bbox, block.bbox)).map((c) => `${c.row},${c.col}`));
  const starts = new Map(cells.map((c) => [`${c.row},${c.col}`, c]));
  const covered = new Set();
  const body = el("tbody");
  for (let r = 0; r < rows; r++) {
    const tr = el("tr");
    for (let c = 0; c < cols; c++) {
      const at = `${r},${c}`;
      const cell = starts.get(at);
      if (!cell) {
        if (!covered.has(at)) tr.append(el("td", { class: "empty" }));
        continue;
      }
      for (let i = 0; i < cell.row_span; i++) for (let j = 0; j < cell.col_span; j++) covered.add(`${r + i},${c + j}`);
      const rect = box(svg, cell.bbox, "cell", color);
      const slot = el(cell.header ? "th" : "td", { text: cell.text, tabindex: "0", "data-cell": at });
      if (cell.row_span > 1) slot.setAttribute("rowspan", String(cell.row_span));
      if (cell.col_span > 1) slot.setAttribute("colspan", String(cell.col_span));
      if (matched.has(at)) slot.classList.add("hit");
      linkFocus(rect, slot);
      tr.append(slot);
    }
    body.append(tr);
  }
  return el("div", { class: "table-wrap" }, el("table", { class: "cells" }, body));
}

function linkFocus(rect, node) {
  // a box on the page and its text beside it: clicking either (or Enter) lights up both
  const activate = () => focusLine(rect, node);
  node.addEventListener("click", activate);
  node.addEventListener("keydown", (e) => { if (e.key === "Enter") activate(); });
  rect.addEventListener("click", activate);
  rect.style.pointerEvents = "all";
}

function focusLine(rect, span) {
  if (viewer.focus) { viewer.focus[0].classList.remove("active"); viewer.focus[1].classList.remove("active"); }
  rect.classList.add("active");
  span.classList.add("active");
  const folded = span.closest("details");
  if (folded) folded.open = true;
  span.scrollIntoView({ block: "nearest" });
  viewer.focus = [rect, span];
}

$("prev").addEventListener("click", () => showPage(viewer.page - 1));
$("next").addEventListener("click", () => showPage(viewer.page + 1));
$("show-order").addEventListener("change", drawPage);
$("show-markdown").addEventListener("change", drawPage);

// the open document as a searchable PDF (fetched with the key, then saved by the browser)
async function downloadPdf() {
  const doc = viewer.doc;
  if (!doc) return;
  let blob;
  try {
    blob = await (await api(`/v1/documents/${encodeURIComponent(doc.id)}/pdf`)).blob();
  } catch (error) { say(error.message, true); return; }
  const name = doc.filename.toLowerCase().endsWith(".pdf")
    ? doc.filename.slice(0, -4) + ".ocr.pdf" : doc.filename + ".pdf";
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
$("download-pdf").addEventListener("click", downloadPdf);

// search

function marked(snippet, highlights) {
  const out = el("p", { class: "snippet" });
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at) continue;
    out.append(document.createTextNode(snippet.slice(at, start)), el("mark", { text: snippet.slice(start, end) }));
    at = end;
  }
  out.append(document.createTextNode(snippet.slice(at)));
  return out;
}

$("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("hits");
  list.replaceChildren();
  let body;
  try {
    body = await (await api("/v1/search", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: $("query").value, k: 10 }) })).json();
  } catch (error) { say(error.message, true); return; }
  cleared();
  if (!body.hits.length) {
    const text = documentCount === 0
      ? "Nothing to search yet: upload documents first; they are searched once done."
      : `No hits for “${body.query}”: try other or fewer words (documents still being read are searched once done).`;
    list.append(el("li", { class: "empty-state", text }));
  }
  for (const hit of body.hits) {
    const img = el("img", { class: "hit-crop", alt: `region of page ${hit.page}` });
    blobUrl(hit.crop_url).then((url) => { img.src = url; }).catch(() => img.remove());
    const open = el("button", { type: "button", text: `${hit.document.filename}, page ${hit.page}`,
      onclick: async () => {
        let doc;
        try {
          doc = await (await api(`/v1/documents/${encodeURIComponent(hit.document.id)}`)).json();
        } catch (error) {
          if (error.status === 404) forget(hit.document.id);
          say(error.status === 404 ? `${hit.document.filename} is no longer there (deleted).` : error.message, true);
          return;
        }
        openDocument(doc, hit.page, hit);
      } });
    list.append(el("li", { class: "hit", "data-document": hit.document.id }, open, el("span", { text: ` score ${hit.score.toFixed(4)} · ${hit.kind}` }),
      marked(hit.snippet, hit.highlights), img));
  }
});

if (key) signIn(key);
