// scanrag web app: no framework, no build step. Every piece of text that comes from a
// document (OCR text, file names, metadata, errors) is put in the page with textContent,
// never as HTML. The API key lives in sessionStorage (this tab only) and goes in the
// Authorization header, never in a URL: images are fetched and shown through blob URLs.
"use strict";

const KINDS = { text: "#1f77b4", title: "#d62728", table: "#2ca02c", figure: "#9467bd",
  header: "#7f7f7f", footer: "#7f7f7f", caption: "#ff7f0e", list: "#17becf" };
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem("scanrag-key");
const viewer = { doc: null, page: 1, pages: 0, data: null, focus: null, hit: null };

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

// sign in

async function signIn(candidate) {
  key = candidate;
  try {
    await api("/v1/documents?limit=1");
  } catch (error) {
    key = null;
    sessionStorage.removeItem("scanrag-key");
    $("app").hidden = true;
    say(error.status === 401 ? "That API key was not accepted." : `Sign-in failed: ${error.message}`, true);
    return;
  }
  sessionStorage.setItem("scanrag-key", key);
  $("app").hidden = false;
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
  say("Signed out.");
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
  const error = doc.error ? ` — ${doc.error.message} [${doc.error.code}]` : "";
  return `${doc.filename}: ${doc.status} ${pages}${error}`;
}

async function watch(doc) {
  // Server-Sent Events read with fetch: EventSource cannot send the Authorization header.
  // The API ends a stream after a while (event: reconnect): it is opened again until the
  // document is done or failed.
  const item = el("li", { text: progressText(doc), "data-id": doc.id });
  $("uploads").append(item);
  let status = doc.status;
  try {
    while (status !== "done" && status !== "failed") {
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
          status = state.status;
          item.textContent = progressText(state);
          item.classList.toggle("refused", state.status === "failed");
          item.dataset.status = state.status;
        }
      }
      // a stream that ended at once (a proxy, a restart) is not reopened in a tight loop
      if (Date.now() - opened < 1000) await new Promise((done) => setTimeout(done, 1000));
    }
  } catch (error) {
    item.textContent = `${doc.filename}: ${error.message}`;
  }
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
  for (const doc of page.documents) {
    const open = el("button", { type: "button", text: "Open", onclick: () => openDocument(doc, 1) });
    open.disabled = doc.status !== "done";
    const remove = el("button", { type: "button", text: "Delete", onclick: () => removeDocument(doc) });
    body.append(el("tr", { "data-id": doc.id },
      el("td", { text: doc.filename }), el("td", { text: doc.status }),
      el("td", { text: doc.page_count === null ? "" : `${doc.pages_done}/${doc.page_count}` }),
      el("td", { text: doc.error ? `${doc.error.message} [${doc.error.code}]` : "" }),
      el("td", {}, open, remove)));
  }
}

async function removeDocument(doc) {
  if (!confirm(`Delete ${doc.filename}?`)) return;
  try { await api(`/v1/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" }); }
  catch (error) { say(error.message, true); }
  refreshDocuments();
}

// viewer

async function openDocument(doc, page, hit = null) {
  viewer.doc = doc;
  viewer.pages = doc.page_count || 1;
  viewer.hit = hit;
  $("viewer").hidden = false;
  await showPage(page);
  $("viewer").scrollIntoView();
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
  } catch (error) { say(error.message, true); return; }
  viewer.data = data;
  drawPage();
}

function drawPage() {
  const data = viewer.data;
  const svg = $("overlay");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${data.width} ${data.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const text = $("page-text");
  text.replaceChildren();
  const order = $("show-order").checked;
  if ($("show-markdown").checked) {
    api(`/v1/documents/${encodeURIComponent(viewer.doc.id)}/markdown`)
      .then((r) => r.text()).then((md) => { text.textContent = md; })
      .catch((error) => say(error.message, true));
  }
  let lineNumber = 0;
  data.blocks.forEach((block, b) => {
    const color = KINDS[block.kind] || KINDS.text;
    box(svg, block.bbox, "block", color).dataset.kind = block.kind;
    if (order) {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", block.bbox[0] + 4); t.setAttribute("y", block.bbox[1] + 28);
      t.textContent = String(b + 1);
      svg.append(t);
    }
    const part = el("div", { class: "block", "data-kind": block.kind });
    part.style.borderLeftColor = color;
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
  if (viewer.hit && viewer.hit.page === viewer.page) {
    // a hit in a table lights up the cells it matched, not the whole table
    const cells = viewer.hit.cells || [];
    for (const c of cells) box(svg, c.bbox, "hit").dataset.cell = `${c.row},${c.col}`;
    if (!cells.length) box(svg, viewer.hit.bbox, "hit");
  }
}

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
  if (!body.hits.length) list.append(el("li", { text: "No results." }));
  for (const hit of body.hits) {
    const img = el("img", { class: "hit-crop", alt: `region of page ${hit.page}` });
    blobUrl(hit.crop_url).then((url) => { img.src = url; }).catch(() => img.remove());
    const open = el("button", { type: "button", text: `${hit.document.filename}, page ${hit.page}`,
      onclick: async () => {
        const doc = await (await api(`/v1/documents/${encodeURIComponent(hit.document.id)}`)).json();
        openDocument(doc, hit.page, hit);
      } });
    list.append(el("li", { class: "hit" }, open, el("span", { text: ` score ${hit.score.toFixed(4)} · ${hit.kind}` }),
      marked(hit.snippet, hit.highlights), img));
  }
});

if (key) signIn(key);
