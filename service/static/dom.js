// DOM building without innerHTML: every string becomes a text node, so text from documents (which may
// contain "<script>" or "<img onerror>") can never turn into markup.
"use strict";

/**
 * Create an element. `props`: {class, hidden, dataset: {...}, on: {event: handler}, ...attributes};
 * children: nodes or strings (strings become text nodes), arrays are flattened, null/false skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (name === "hidden") el.hidden = Boolean(value);
    else if (name.startsWith("on")) throw new Error("inline handlers are not allowed: use `on`");
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Lower-case without diacritics, so "nghi quyet" finds "Nghị quyết" (people type without accents). */
export function folded(text) {
  return String(text || "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[đĐ]/g, "d")
    .toLowerCase();
}

/** "2024-12-22" -> "22/12/2024" (Vietnamese order); string work only, so no time zone can shift the day. */
export function formatDate(iso) {
  if (!iso) return "";
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso));
  return m ? `${m[3]}/${m[2]}/${m[1]}` : String(iso);
}

/** "nghị quyết" -> "Nghị quyết": types are stored lower-case, as the filter sends them. */
export function typeLabel(type) {
  const s = String(type || "");
  return s ? s.charAt(0).toLocaleUpperCase("vi") + s.slice(1) : "";
}

const CLASSIFICATION_LABELS = {
  "cong-khai": "Công khai",
  "noi-bo": "Nội bộ",
  mat: "Mật",
  "toi-mat": "Tối mật",
};

export function classificationLabel(level) {
  return CLASSIFICATION_LABELS[level] || String(level || "");
}

function metaRow(label, value) {
  return value ? [h("dt", {}, label), h("dd", {}, value)] : [];
}

/** Title, metadata list and warnings of a document, for the source panel and the full-document viewer. */
export function documentHeader(doc, paragraph = {}, { heading = "h3", headingId = null } = {}) {
  const issued = [doc.place, formatDate(doc.issued)].filter(Boolean).join(", ");
  const level = doc.classification && doc.classification !== "cong-khai" ? classificationLabel(doc.classification) : "";
  return [
    h(heading, { class: "doc-title", id: headingId, tabindex: headingId ? "-1" : null }, doc.title || "Văn bản"),
    h(
      "dl",
      { class: "doc-meta" },
      metaRow("Số, ký hiệu", doc.number),
      metaRow("Loại văn bản", typeLabel(doc.type)),
      metaRow("Cơ quan ban hành", doc.issuer),
      metaRow("Ngày ban hành", issued),
      metaRow("Mức độ", level),
      metaRow("Mục", paragraph.section),
      metaRow("Trang", paragraph.page ? String(paragraph.page) : ""),
      metaRow("Nguồn nạp", provenanceText(doc.provenance)),
    ),
    // A number claimed by two documents is never shown as if they were one: the warning stands out.
    ...(doc.warnings || []).map((text) => h("p", { class: "doc-warning", role: "note" }, text)),
  ];
}

/** Who put the document in the library, when, and the file's hash (shortened; the API gives it whole). */
export function provenanceText(provenance) {
  if (!provenance) return "";
  const who = provenance.ingested_by === "cli" ? "người vận hành" : provenance.ingested_by;
  const when = provenance.ingested_at ? formatDate(provenance.ingested_at.slice(0, 10)) : "";
  return [who, when, provenance.sha256 ? `SHA-256 ${provenance.sha256.slice(0, 12)}…` : ""].filter(Boolean).join(" · ");
}

/**
 * The paragraph text with the quote wrapped in <mark>, as nodes. `quoteStart` comes from Python (code
 * points) while JS indexes UTF-16 units; they agree for Vietnamese (all in the BMP), and when they do not
 * (an emoji before the quote) the first occurrence of the quote is used instead.
 */
export function highlighted(text, quote, quoteStart) {
  const body = String(text || "");
  const q = String(quote || "");
  if (!q) return [body];
  let start = -1;
  if (Number.isInteger(quoteStart) && body.slice(quoteStart, quoteStart + q.length) === q) start = quoteStart;
  else start = body.indexOf(q);
  if (start < 0) return [body];
  return [body.slice(0, start), h("mark", {}, q), body.slice(start + q.length)].filter((n) => n !== "");
}

const MARKER_RE = /\[(\d{1,3})\]/g;

/**
 * One line of an answer as nodes: text, with each "[n]" that matches a citation turned into a button.
 * A marker without a citation stays plain text (the server drops invalid ones; this is belt and braces).
 * The last word before a marker and the marker(s) share a no-wrap span: a button is an atomic inline, so a
 * no-break space alone would not stop "[2]" from starting a line of its own.
 */
export function lineWithMarkers(line, byMarker, makeCite) {
  const nodes = [];
  let last = 0;
  let group = null;
  for (const m of line.matchAll(MARKER_RE)) {
    const citation = byMarker.get(Number(m[1]));
    if (!citation) continue;
    const between = line.slice(last, m.index);
    if (between || !group) {
      const cut = between.trimEnd().search(/\S+$/);
      const head = cut >= 0 ? between.slice(0, cut) : between;
      const tail = cut >= 0 ? between.slice(cut).replace(/\s+$/, "\u00a0") : "";
      if (head) nodes.push(head);
      group = h("span", { class: "nowrap" }, tail);
      nodes.push(group);
    }
    group.append(makeCite(citation));
    last = m.index + m[0].length;
  }
  if (last < line.length) nodes.push(line.slice(last));
  return nodes;
}

/**
 * The answer text as paragraphs and lists: lines starting with "- " are list items, runs of them form
 * one <ul>; other non-empty lines are paragraphs.
 */
export function answerBlocks(text, byMarker, makeCite) {
  const blocks = [];
  let list = null;
  for (const raw of String(text || "").split("\n")) {
    const line = raw.trim();
    if (!line) {
      list = null;
      continue;
    }
    if (line.startsWith("- ")) {
      if (!list) {
        list = h("ul", { class: "answer-list" });
        blocks.push(list);
      }
      list.append(h("li", {}, lineWithMarkers(line.slice(2), byMarker, makeCite)));
    } else {
      list = null;
      blocks.push(h("p", {}, lineWithMarkers(line, byMarker, makeCite)));
    }
  }
  return blocks;
}

/** Plain-text form of an answer with its sources, for the clipboard. */
export function answerAsText(answer) {
  const lines = [String(answer.answer || "").trim()];
  const citations = answer.citations || [];
  if (citations.length) {
    lines.push("", "Nguồn trích dẫn:");
    for (const c of citations) {
      const meta = [c.number, formatDate(c.issued), c.section ? `mục ${c.section}` : ""].filter(Boolean);
      lines.push(`[${c.marker}] ${c.title}${meta.length ? ` (${meta.join(", ")})` : ""}`);
    }
  }
  return lines.join("\n");
}

// The async Clipboard API exists only in secure contexts (https, localhost); intranet servers are often
// plain http on a host name, where the old execCommand path still works.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* permission refused: try the fallback */
    }
  }
  const area = h("textarea", { class: "clipboard-helper", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
