// The full-document viewer: a document's whole text in its own structure (Phần, Chương, Mục, Điều and the
// numbered sections under them), an outline to jump through it, the cited paragraph highlighted, and a link
// back to where the reader came from. Text enters the DOM only as text nodes (dom.js).
"use strict";

import { getJSON } from "./api.js";
import { clear, documentHeader, h, highlighted } from "./dom.js";

/** Paragraphs asked for per request; the API's own limit (service/routers/documents.py). */
const PAGE = 2000;
const ROUTE = "#/van-ban/";
const PARAGRAPH_RE = /^p\d+$/;

/** The page route showing a document, scrolled to one of its paragraphs when a paragraph id is given. */
export function viewerRoute(docOrParagraphId) {
  return ROUTE + String(docOrParagraphId).split("/").map(encodeURIComponent).join("/");
}

/** {docId, paragraphId|null} of a viewer route, or null for any other hash. */
export function parseViewerRoute(hash) {
  if (!String(hash).startsWith(ROUTE)) return null;
  let parts;
  try {
    parts = hash.slice(ROUTE.length).split("/").map(decodeURIComponent);
  } catch {
    return null; // a malformed %-escape typed by hand
  }
  parts = parts.filter(Boolean);
  if (!parts.length) return null;
  const last = parts[parts.length - 1];
  if (parts.length > 1 && PARAGRAPH_RE.test(last)) {
    return { docId: parts.slice(0, -1).join("/"), paragraphId: parts.join("/") };
  }
  return { docId: parts.join("/"), paragraphId: null };
}

function documentPath(docId) {
  return `/api/v1/documents/${String(docId).split("/").map(encodeURIComponent).join("/")}`;
}

/** Every paragraph of the document, in order, a page at a time; `onProgress(loaded, total)` after each page. */
async function loadParagraphs(docId, signal, onProgress) {
  const paragraphs = [];
  let total = Infinity;
  while (paragraphs.length < total) {
    const data = await getJSON(`${documentPath(docId)}/paragraphs?offset=${paragraphs.length}&limit=${PAGE}`, { signal });
    total = data.total;
    paragraphs.push(...data.paragraphs);
    onProgress(paragraphs.length, total);
    if (!data.paragraphs.length) break; // the document shrank while it was read (re-ingested)
  }
  return paragraphs;
}

/** How deep a heading sits: "III > 1" is level 2. */
function depth(paragraph) {
  return Math.max(1, String(paragraph.section || "").split(" > ").filter(Boolean).length);
}

function anchorId(paragraph) {
  return `para-${String(paragraph.paragraph_id).split("/").pop()}`;
}

function paragraphElement(paragraph, cited) {
  if (paragraph.kind === "heading" && !cited) {
    const tag = `h${Math.min(4, depth(paragraph) + 1)}`; // the document title is the h1
    return h(tag, { class: "doc-heading", id: anchorId(paragraph), tabindex: "-1" }, paragraph.text);
  }
  if (cited) {
    return h(
      "div",
      { class: "cited doc-cited", id: anchorId(paragraph), tabindex: "-1", role: "group", "aria-label": "Đoạn được trích dẫn" },
      h("p", { class: "cited-label" }, cited.quote ? "Đoạn được trích dẫn (phần tô sáng là câu được dùng):" : "Đoạn được trích dẫn:"),
      h("p", { class: "doc-para" }, highlighted(paragraph.text, cited.quote, cited.quoteStart)),
    );
  }
  return h("p", { class: "doc-para", id: anchorId(paragraph) }, paragraph.text);
}

function outline(paragraphs, onJump) {
  const headings = paragraphs.filter((p) => p.kind === "heading");
  if (headings.length < 2) return null;
  const items = headings.map((p) =>
    h(
      "li",
      { class: `outline-item outline-${Math.min(3, depth(p))}` },
      h("button", { type: "button", class: "link-button", on: { click: () => onJump(anchorId(p)) } }, p.text),
    ),
  );
  // Open beside a wide screen's text; folded on a phone, where it would push the text a screen down.
  const open = window.matchMedia("(min-width: 64rem)").matches;
  return h(
    "details",
    { class: "doc-outline", open },
    h("summary", {}, `Mục lục (${headings.length} đề mục)`),
    h("nav", { "aria-label": "Mục lục văn bản" }, h("ol", {}, items)),
  );
}

function jumpTo(id) {
  const target = document.getElementById(id);
  if (!target) return;
  target.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
}

/**
 * Fill `container` with the document `docId`. `cited`: {paragraphId, quote, quoteStart} to highlight and
 * scroll to (quote may be empty). `back`: {href, label} of the link back. Resolves once drawn; rejects with
 * the API's error (a hidden or missing document is the same 404).
 */
export async function renderViewer(container, { docId, cited, back, signal }) {
  const status = h("p", { class: "status", role: "status" }, "Đang tải văn bản…");
  const backLink = () => h("p", { class: "doc-back" }, h("a", { href: back.href }, `← ${back.label}`));
  clear(container).append(backLink(), status);
  const [doc, paragraphs] = await Promise.all([
    getJSON(documentPath(docId), { signal }),
    loadParagraphs(docId, signal, (loaded, total) => {
      if (total > PAGE) status.textContent = `Đang tải văn bản… ${loaded.toLocaleString("vi")}/${total.toLocaleString("vi")} đoạn`;
    }),
  ]);
  const found = cited && paragraphs.some((p) => p.paragraph_id === cited.paragraphId);
  const text = h(
    "article",
    { class: "doc-text", "aria-labelledby": "doc-view-title" },
    paragraphs.map((p) => paragraphElement(p, found && p.paragraph_id === cited.paragraphId ? cited : null)),
  );
  const note = cited && !found ? h("p", { class: "doc-warning", role: "note" }, "Đoạn được trích dẫn không còn trong văn bản này (văn bản đã được nạp lại); đây là bản hiện có.") : null;
  clear(container).append(
    backLink(),
    ...documentHeader(doc, {}, { heading: "h1", headingId: "doc-view-title" }),
    h("p", { class: "doc-count" }, `${paragraphs.length.toLocaleString("vi")} đoạn văn`),
    note,
    outline(paragraphs, jumpTo),
    text,
  );
  return { doc, citedElement: found ? container.querySelector(".doc-cited") : null };
}
