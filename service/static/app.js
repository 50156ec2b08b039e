// The Văn Kiện chat page: conversation with streamed, cited answers; the source panel; filters; the
// documents list. No framework and no build step: the page must run from the service alone on networks
// with no Internet. Text from documents and answers only ever enters the DOM as text nodes (see dom.js).
"use strict";

import {
  ApiError,
  askStream,
  conversations,
  downloadFile,
  getJSON,
  getSession,
  paragraphPath,
  postJSON,
  signIn,
  signOut,
} from "./api.js";
import {
  answerAsText,
  answerBlocks,
  append,
  classificationLabel,
  clear,
  copyText,
  documentHeader,
  folded,
  formatDate,
  h,
  highlighted,
  typeLabel,
} from "./dom.js";
import { renderAdmin } from "./admin.js";
import { setupUpload } from "./upload.js";
import { parseViewerRoute, renderViewer, viewerRoute } from "./viewer.js";

/** Earlier turns sent with a question; the server keeps only its own configured number of them anyway. */
const HISTORY_TURNS = 6;
// The longest question the server takes until it says otherwise (GET /api/v1/session, `max_question_chars`).
const DEFAULT_MAX_QUESTION = 1000;
const ABSTAIN_NEAREST = " Các văn bản gần nhất:";

const state = {
  turns: [], // {question, answer (JSON) | null}
  streaming: null, // AbortController of the answer being streamed
  documents: null, // last list from the server
  docScope: null, // {doc_id, label}: "ask about this document" from the documents page
  panelTrigger: null, // the control that opened the source panel, to give focus back
  panelRequest: null, // AbortController of the paragraph being loaded
  viewerRequest: null, // AbortController of the document being loaded into the full-document viewer
  viewerFrom: null, // {hash, trigger, quote, quoteStart, paragraphId}: where the viewer was opened from
  focusAfterRoute: null, // what the next route change focuses instead of the view's heading
  account: { mode: "unknown" }, // GET /api/v1/session: "public" (local demo), "session" (signed in), "none"
  conversationId: null, // the saved conversation on screen (its turns are recorded by the server)
  maxQuestion: DEFAULT_MAX_QUESTION, // characters; the server's own limit once the session answer arrives
};

// The conversation on screen survives a reload of this tab; the list of saved ones lives on the server.
const CONVERSATION_STORAGE = "vankien.conversation";

function rememberConversation(id) {
  state.conversationId = id;
  try {
    if (id) sessionStorage.setItem(CONVERSATION_STORAGE, id);
    else sessionStorage.removeItem(CONVERSATION_STORAGE);
  } catch {
    /* storage disabled: the conversation is still saved, only not reopened by a reload */
  }
}

function rememberedConversation() {
  try {
    return sessionStorage.getItem(CONVERSATION_STORAGE);
  } catch {
    return null;
  }
}

const $ = (id) => document.getElementById(id);
// Where the panel is a full-screen sheet (app.css uses the same width).
const SHEET_QUERY = window.matchMedia("(max-width: 48rem)");
let els = {};

// -- small utilities ----------------------------------------------------------------------------------

function announce(message) {
  // Re-setting identical text would not be re-announced; clearing first makes each message count.
  els.announcer.textContent = "";
  window.setTimeout(() => {
    els.announcer.textContent = message;
  }, 30);
}

function errorMessage(err) {
  return err instanceof ApiError ? err.message : "Đã xảy ra lỗi không mong đợi. Vui lòng thử lại.";
}

function isAbort(err) {
  return Boolean(err) && err.name === "AbortError";
}

function docLabel(doc) {
  const meta = [doc.number, formatDate(doc.issued)].filter(Boolean).join(", ");
  return meta ? `${doc.title} (${meta})` : doc.title;
}

// -- filters -------------------------------------------------------------------------------------------

function selectedTypes() {
  return [...document.querySelectorAll('#filters input[name="type"]:checked')].map((box) => box.value);
}

/** The filters as the API takes them; only the keys that restrict something are sent. */
function currentFilters() {
  const filters = {};
  const types = selectedTypes();
  if (types.length) filters.types = types;
  if (els.yearFrom.value) filters.from = `${els.yearFrom.value}-01-01`;
  if (els.yearTo.value) filters.to = `${els.yearTo.value}-12-31`;
  if (state.docScope) filters.doc_ids = [state.docScope.doc_id];
  return filters;
}

/** A short Vietnamese description of the filters, or "" when nothing is filtered. */
function describeFilters(filters) {
  const parts = [];
  if (filters.types) parts.push(`Loại: ${filters.types.map(typeLabel).join(", ")}`);
  const from = filters.from ? filters.from.slice(0, 4) : "";
  const to = filters.to ? filters.to.slice(0, 4) : "";
  if (from && to) parts.push(from === to ? `Năm ${from}` : `Năm ${from}–${to}`);
  else if (from) parts.push(`Từ năm ${from}`);
  else if (to) parts.push(`Đến năm ${to}`);
  if (filters.doc_ids && state.docScope) parts.push(`Văn bản: ${state.docScope.label}`);
  return parts.join(" · ");
}

function filtersChanged() {
  // A reversed range would silently match nothing; swapping is what the user meant.
  if (els.yearFrom.value && els.yearTo.value && els.yearFrom.value > els.yearTo.value) {
    [els.yearFrom.value, els.yearTo.value] = [els.yearTo.value, els.yearFrom.value];
  }
  const filters = currentFilters();
  const count = Object.keys(filters).length;
  els.filterCount.hidden = count === 0;
  els.filterCount.textContent = String(count);
  const text = describeFilters(filters);
  els.filterSummary.textContent = text ? `Đang lọc — ${text}` : "";
  els.docScope.hidden = !state.docScope;
  els.docScopeLabel.textContent = state.docScope ? state.docScope.label : "";
}

function clearFilters() {
  for (const box of document.querySelectorAll('#filters input[name="type"]')) box.checked = false;
  els.yearFrom.value = "";
  els.yearTo.value = "";
  state.docScope = null;
  filtersChanged();
}

/** Year choices from the indexed documents, so every choice can match something. */
function fillYears(documents) {
  const years = new Set();
  for (const doc of documents || []) {
    const m = /^(\d{4})/.exec(doc.issued || "");
    if (m) years.add(m[1]);
  }
  if (years.size === 0) {
    const now = new Date().getFullYear();
    for (let y = now; y >= now - 15; y -= 1) years.add(String(y));
  }
  const sorted = [...years].sort().reverse();
  for (const select of [els.yearFrom, els.yearTo]) {
    const keep = select.value;
    clear(select).append(h("option", { value: "" }, "Tất cả"), ...sorted.map((y) => h("option", { value: y }, y)));
    select.value = sorted.includes(keep) ? keep : "";
  }
}

// -- conversation --------------------------------------------------------------------------------------

function historyForServer() {
  // Completed turns only; the paragraph text is left out of citations (the server needs the document
  // numbers, and request bodies are capped).
  return state.turns
    .filter((turn) => turn.answer)
    .slice(-HISTORY_TURNS)
    .map((turn) => ({
      question: turn.question,
      answer: turn.answer.answer,
      citations: (turn.answer.citations || []).map(({ text, ...rest }) => rest),
    }));
}

function nearBottom() {
  const doc = document.scrollingElement || document.documentElement;
  return doc.scrollHeight - (doc.scrollTop + window.innerHeight) < 160;
}

function keepInView(follow) {
  if (follow) window.scrollTo({ top: document.documentElement.scrollHeight });
}

function setBusy(busy) {
  els.send.hidden = busy;
  els.stop.hidden = !busy;
  els.question.setAttribute("aria-busy", busy ? "true" : "false");
}

function turnElement(question, filters) {
  const filterText = describeFilters(filters);
  const answerBody = h("div", { class: "answer-body streaming" });
  const status = h("p", { class: "answer-status" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Đang trả lời…");
  const answer = h(
    "article",
    { class: "answer", "aria-live": "polite", "aria-busy": "true", "aria-label": "Câu trả lời" },
    status,
    answerBody,
  );
  const li = h(
    "li",
    { class: "turn" },
    h(
      "div",
      { class: "question" },
      h("p", { class: "question-label visually-hidden" }, "Câu hỏi:"),
      h("p", { class: "question-text" }, question),
      filterText ? h("p", { class: "question-filters" }, filterText) : null,
    ),
    answer,
  );
  return { li, answer, answerBody, status };
}

async function ask(question) {
  const text = question.trim();
  if (!text || state.streaming) return;
  els.intro.hidden = true;
  els.newChat.hidden = false;
  els.exportAll.hidden = els.newChat.hidden;
  const filters = currentFilters();
  const view = turnElement(text, filters);
  els.conversation.append(view.li);
  const turn = { question: text, answer: null };
  const body = { question: text, history: historyForServer(), filters };
  state.turns.push(turn);
  keepInView(true);

  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  announce("Đang trả lời…");
  const streamed = document.createTextNode("");
  view.answerBody.append(streamed);
  let created = null; // the conversation made for this question, if it is the first of one
  try {
    if (!state.conversationId) {
      // The server keeps the conversation; if it cannot, the question is still answered (just not saved).
      try {
        created = (await conversations.create()).id;
        rememberConversation(created);
      } catch (err) {
        if (isAbort(err)) throw err;
      }
    }
    if (state.conversationId) body.conversation_id = state.conversationId;
    const answer = await askStream(body, {
      signal: controller.signal,
      onDelta: (piece) => {
        const follow = nearBottom();
        streamed.appendData(piece);
        keepInView(follow);
      },
    });
    turn.answer = answer;
    renderAnswer(view, answer);
    announce(answer.abstained ? "Không tìm thấy thông tin để trả lời." : "Đã có câu trả lời.");
  } catch (err) {
    if (created && state.conversationId === created) {
      // Its only question got no answer: an empty conversation must not stay in the saved list.
      rememberConversation(null);
      conversations.remove(created).catch(() => {});
    }
    renderFailure(view, turn, text, err);
  } finally {
    view.answer.setAttribute("aria-busy", "false");
    view.answerBody.classList.remove("streaming");
    state.streaming = null;
    setBusy(false);
  }
}

function renderFailure(view, turn, question, err) {
  view.status.remove();
  if (isAbort(err)) {
    view.answerBody.append(h("p", { class: "answer-note" }, "Đã dừng trả lời."));
    announce("Đã dừng trả lời.");
    return;
  }
  const message = errorMessage(err);
  const retry = h("button", { type: "button", class: "btn btn-small" }, "Thử lại");
  retry.addEventListener("click", () => {
    // The failed turn leaves the conversation; the question is asked again as a new turn.
    state.turns = state.turns.filter((t) => t !== turn);
    view.li.remove();
    ask(question);
  });
  view.answerBody.append(h("div", { class: "answer-error", role: "alert" }, h("p", {}, message), retry));
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    showKeyForm(true);
    if (err.status === 401) refreshAccount(); // the session may have expired or its key been revoked
  }
}

function citeButton(citation) {
  const where = [citation.number || citation.title, citation.section ? `mục ${citation.section}` : ""];
  return h(
    "button",
    {
      type: "button",
      class: "cite",
      "aria-label": `Trích dẫn ${citation.marker}`,
      "aria-controls": "panel",
      title: where.filter(Boolean).join(", "),
      dataset: { marker: String(citation.marker) },
      on: { click: (event) => openCitation(citation, event.currentTarget) },
    },
    `[${citation.marker}]`,
  );
}

function renderAnswer(view, answer) {
  view.status.remove();
  const body = clear(view.answerBody);
  const citations = answer.citations || [];
  if (answer.abstained) {
    renderAbstained(body, answer);
  } else {
    const byMarker = new Map(citations.map((c) => [Number(c.marker), c]));
    append(body, answerBlocks(answer.answer, byMarker, citeButton));
    if (answer.rewritten_question) {
      body.append(h("p", { class: "answer-note" }, `Câu hỏi được hiểu là: ${answer.rewritten_question}`));
    }
    body.append(sourcesList(citations));
  }
  body.append(answerActions(answer));
}

function renderAbstained(body, answer) {
  const nearest = answer.nearest || [];
  const text = String(answer.answer || "");
  const cut = nearest.length ? text.indexOf(ABSTAIN_NEAREST) : -1;
  // The nearest documents are listed as buttons below, so their plain-text list is not repeated.
  body.append(h("p", { class: "abstain" }, cut > 0 ? text.slice(0, cut) : text));
  if (!nearest.length) return;
  const items = nearest.map((n) =>
    h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "link-button",
          "aria-controls": "panel",
          on: { click: (event) => openNearest(n, event.currentTarget) },
        },
        docLabel(n),
      ),
    ),
  );
  body.append(h("p", { class: "nearest-title" }, "Các văn bản gần nhất có thể liên quan:"), h("ul", { class: "nearest" }, items));
}

function sourcesList(citations) {
  const items = citations.map((c, i) => {
    // Answers often cite several paragraphs of one document: its title is shown once per run.
    const sameDoc = i > 0 && citations[i - 1].doc_id === c.doc_id;
    const parts = [c.number, formatDate(c.issued), c.section ? `Mục ${c.section}` : ""].filter(Boolean);
    const meta = parts.join(" · ");
    // Each part stays whole on narrow screens ("Mục II > 2 > a)" must not break after ">").
    const metaNodes = parts.flatMap((part, i) => [i ? " · " : null, h("span", { class: "nowrap" }, part)]);
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "source",
          "aria-controls": "panel",
          "aria-label": `Nguồn ${c.marker}: ${c.title}${meta ? `, ${meta}` : ""}`,
          on: { click: (event) => openCitation(c, event.currentTarget) },
        },
        h("span", { class: "source-marker", "aria-hidden": "true" }, `[${c.marker}]`),
        h(
          "span",
          { class: "source-text" },
          sameDoc ? null : h("span", { class: "source-title" }, c.title),
          meta ? h("span", { class: "source-meta" }, metaNodes) : null,
          h("span", { class: "source-quote" }, `“${c.quote}”`),
        ),
      ),
    );
  });
  return h("section", { class: "sources", "aria-label": "Nguồn trích dẫn" }, h("h3", {}, "Nguồn trích dẫn"), h("ol", {}, items));
}

function answerActions(answer) {
  const status = h("span", { class: "action-status", role: "status" });
  const copy = h("button", { type: "button", class: "btn btn-small" }, "Sao chép");
  copy.addEventListener("click", async () => {
    const ok = await copyText(answerAsText(answer));
    status.textContent = ok ? "Đã sao chép câu trả lời." : "Không sao chép được; hãy chọn và sao chép thủ công.";
  });
  const up = h("button", { type: "button", class: "btn btn-small rate", "aria-pressed": "false" }, "Hữu ích");
  const down = h("button", { type: "button", class: "btn btn-small rate", "aria-pressed": "false" }, "Chưa đúng");
  const comment = commentForm(answer, status, [up, down]);
  up.addEventListener("click", () => {
    comment.hidden = true;
    sendFeedback(answer, "up", "", status, [up, down], up);
  });
  down.addEventListener("click", () => {
    // A "wrong" rating is most useful with a reason; the form lets the user add one or send without.
    comment.hidden = false;
    comment.querySelector("textarea").focus();
  });
  const exports = ["docx", "pdf"].map((format) =>
    h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        "aria-label": `Tải câu trả lời này về dạng ${format.toUpperCase()}`,
        on: { click: (event) => exportTurns([answer], format, status, event.currentTarget) },
      },
      `Tải ${format.toUpperCase()}`,
    ),
  );
  return h(
    "div",
    { class: "answer-actions" },
    h(
      "div",
      { class: "action-row", role: "group", "aria-label": "Thao tác với câu trả lời" },
      copy,
      up,
      down,
      ...exports,
      status,
    ),
    comment,
  );
}

/** The answers as the export endpoint takes them: the text and, per citation, only its marker and paragraph
 * (the server looks the paragraphs up again for the footnotes and the classification marking). */
function exportBody(answers, format) {
  return {
    format,
    turns: answers.map((a) => ({
      question: a.question,
      answer: a.answer || "",
      citations: (a.citations || []).map((c) => ({ marker: c.marker, paragraph_id: c.paragraph_id })),
    })),
  };
}

async function exportTurns(answers, format, status, button) {
  if (!answers.length) {
    status.textContent = "Chưa có câu trả lời nào để xuất.";
    return;
  }
  const label = format.toUpperCase();
  status.textContent = `Đang tạo tệp ${label}…`;
  if (button) button.disabled = true;
  try {
    const name = await downloadFile("/api/v1/export", exportBody(answers, format), `van-kien-hoi-dap.${format}`);
    status.textContent = `Đã tải về ${name}.`;
  } catch (err) {
    status.textContent = errorMessage(err);
  } finally {
    if (button) button.disabled = false;
  }
}

function commentForm(answer, status, buttons) {
  const id = `comment-${Math.random().toString(36).slice(2, 9)}`;
  const area = h("textarea", { id, rows: "2", maxlength: "2000" });
  const cancel = h("button", { type: "button", class: "btn btn-small btn-quiet" }, "Hủy");
  const form = h(
    "form",
    { class: "comment-form", hidden: true },
    h("label", { for: id }, "Điều gì chưa đúng? (không bắt buộc)"),
    area,
    h("div", { class: "action-row" }, h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Gửi đánh giá"), cancel),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.hidden = true;
    sendFeedback(answer, "down", area.value.trim(), status, buttons, buttons[1]);
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    buttons[1].focus();
  });
  return form;
}

async function sendFeedback(answer, rating, comment, status, buttons, pressed) {
  const body = {
    question: answer.question,
    answer: answer.answer,
    rating,
    paragraph_ids: (answer.citations || []).map((c) => c.paragraph_id),
  };
  if (comment) body.comment = comment;
  for (const b of buttons) b.disabled = true;
  status.textContent = "Đang gửi đánh giá…";
  try {
    await postJSON("/api/v1/feedback", body);
    for (const b of buttons) b.setAttribute("aria-pressed", b === pressed ? "true" : "false");
    status.textContent = "Cảm ơn, đánh giá đã được ghi nhận.";
  } catch (err) {
    status.textContent = errorMessage(err);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/** Take every answer, source and follow-up context off the page (a new conversation, or another key). */
function forgetConversation() {
  if (state.streaming) state.streaming.abort();
  rememberConversation(null);
  state.turns = [];
  clear(els.conversation);
  closePanel(false);
  els.intro.hidden = false;
  els.newChat.hidden = true;
  els.exportAll.hidden = els.newChat.hidden;
}

function showTurns(messages) {
  for (const message of messages) {
    const view = turnElement(message.question, {});
    els.conversation.append(view.li);
    view.answer.setAttribute("aria-busy", "false");
    view.answerBody.classList.remove("streaming");
    renderAnswer(view, message.answer);
    state.turns.push({ question: message.question, answer: message.answer });
  }
}

async function openConversation(id, { quiet = false } = {}) {
  let saved;
  try {
    saved = await conversations.get(id);
  } catch (err) {
    if (id === rememberedConversation()) rememberConversation(null);
    if (!quiet) announce(errorMessage(err));
    return false;
  }
  forgetConversation();
  rememberConversation(saved.id);
  showTurns(saved.messages);
  const some = saved.messages.length > 0;
  els.intro.hidden = some;
  els.newChat.hidden = !some;
  els.exportAll.hidden = els.newChat.hidden;
  if (saved.hidden) {
    els.conversation.append(
      h(
        "li",
        { class: "turn turn-hidden" },
        h("p", { class: "answer-note" }, `${saved.hidden} lượt hỏi đáp vượt mức được xem hiện tại của tài khoản nên không hiển thị.`),
      ),
    );
  }
  if (!quiet) announce(`Đã mở cuộc hội thoại "${saved.title || "chưa đặt tên"}".`);
  return true;
}

function savedRow(item) {
  const when = formatDate(item.updated_at.slice(0, 10));
  const label = `${item.title || "Chưa đặt tên"} (${item.turns} lượt, ${when})`;
  const open = h("button", { type: "button", class: "saved-open" }, label);
  const rename = h("button", { type: "button", class: "btn btn-small" }, "Đổi tên");
  const remove = h("button", { type: "button", class: "btn btn-small" }, "Xóa");
  const li = h("li", { class: "saved-item" }, open, rename, remove);
  if (item.id === state.conversationId) open.setAttribute("aria-current", "true");
  open.addEventListener("click", async () => {
    if (await openConversation(item.id)) {
      els.saved.open = false;
      els.question.focus();
    }
  });
  rename.addEventListener("click", () => {
    const input = h("input", { type: "text", value: item.title, maxlength: "120", "aria-label": "Tên mới của cuộc hội thoại" });
    const save = h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Lưu tên");
    const cancel = h("button", { type: "button", class: "btn btn-small" }, "Hủy");
    const form = h("form", { class: "saved-rename" }, input, save, cancel);
    cancel.addEventListener("click", () => loadSaved());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) {
        els.savedStatus.textContent = "Tên cuộc hội thoại không được để trống.";
        input.focus();
        return;
      }
      try {
        await conversations.rename(item.id, title);
        els.savedStatus.textContent = `Đã đổi tên thành "${title}".`;
      } catch (err) {
        els.savedStatus.textContent = errorMessage(err);
      }
      loadSaved();
    });
    li.replaceChildren(form);
    input.focus();
    input.select();
  });
  remove.addEventListener("click", async () => {
    if (remove.dataset.confirm !== "1") {
      remove.dataset.confirm = "1";
      remove.textContent = "Bấm lần nữa để xóa";
      return;
    }
    try {
      await conversations.remove(item.id);
      if (item.id === state.conversationId) forgetConversation();
      els.savedStatus.textContent = `Đã xóa "${item.title || "Chưa đặt tên"}".`;
    } catch (err) {
      els.savedStatus.textContent = errorMessage(err);
    }
    loadSaved();
  });
  return li;
}

async function loadSaved() {
  els.savedList.replaceChildren();
  let listing;
  try {
    listing = await conversations.list();
  } catch (err) {
    els.savedStatus.textContent = errorMessage(err);
    return;
  }
  if (!listing.conversations.length) {
    els.savedList.append(h("li", { class: "empty" }, "Chưa có cuộc hội thoại nào được lưu."));
    return;
  }
  for (const item of listing.conversations) els.savedList.append(savedRow(item));
}

function newConversation() {
  forgetConversation();
  els.question.focus();
  announce("Đã bắt đầu cuộc hội thoại mới.");
}

// -- source panel --------------------------------------------------------------------------------------

function contextParagraph(p) {
  return h("p", { class: p.kind === "heading" ? "ctx ctx-heading" : "ctx" }, p.text);
}

/**
 * Fill the panel: document header, the neighbouring paragraphs, and the cited paragraph with the quote in a
 * <mark>. `before`/`after` are null while they load.
 */
function renderPanel({ kicker, doc, paragraph, quote, quoteStart, before, after, note }) {
  const cited = h(
    "div",
    { class: "cited", "aria-label": "Đoạn được trích dẫn", role: "group" },
    h("p", { class: "cited-label" }, quote ? "Đoạn được trích dẫn (phần tô sáng là câu được dùng):" : "Đoạn văn liên quan nhất:"),
    h("p", { class: paragraph.kind === "heading" ? "ctx ctx-heading" : "ctx" }, highlighted(paragraph.text, quote, quoteStart)),
  );
  const context = h(
    "div",
    { class: "context", "aria-label": "Đoạn văn trong văn bản", role: "region" },
    (before || []).map(contextParagraph),
    cited,
    (after || []).map(contextParagraph),
  );
  const fullText = paragraph.paragraph_id
    ? h(
        "p",
        { class: "panel-actions" },
        h(
          "a",
          {
            class: "btn btn-small",
            href: viewerRoute(paragraph.paragraph_id),
            on: { click: () => openedViewer(paragraph.paragraph_id, quote, quoteStart) },
          },
          "Xem toàn văn",
        ),
      )
    : null;
  clear(els.panelBody).append(
    h("p", { class: "panel-kicker" }, kicker),
    ...documentHeader(doc, paragraph),
    fullText,
    note ? h("p", { class: "panel-note", role: "status" }, note) : h("p", { class: "visually-hidden", role: "status" }),
    context,
  );
  // The document header stays in view unless the cited paragraph would be below the fold; then scroll just
  // enough to show it whole (scrolling the panel only, never the page behind it).
  const body = els.panelBody;
  const bottom = cited.offsetTop + cited.offsetHeight + 16;
  body.scrollTop = bottom > body.clientHeight ? Math.min(cited.offsetTop - 16, bottom - body.clientHeight) : 0;
}

/** On a phone the sheet covers the page: what is behind it must not take focus or be read out. */
function setBehindSheet(open) {
  const cover = open && SHEET_QUERY.matches;
  for (const el of [els.main, els.topbar, $("skip-link")]) el.inert = cover;
}

function showPanel(trigger) {
  for (const el of document.querySelectorAll(".cite.active, .source.active, .link-button.active")) {
    el.classList.remove("active");
    el.setAttribute("aria-expanded", "false");
  }
  if (trigger) {
    trigger.classList.add("active");
    trigger.setAttribute("aria-expanded", "true");
  }
  state.panelTrigger = trigger;
  els.panel.hidden = false;
  document.body.classList.add("panel-open");
  setBehindSheet(true);
  els.panelTitle.focus({ preventScroll: true });
}

function closePanel(restoreFocus = true) {
  if (els.panel.hidden) return;
  state.panelRequest?.abort();
  els.panel.hidden = true;
  document.body.classList.remove("panel-open");
  setBehindSheet(false);
  const trigger = state.panelTrigger;
  trigger?.classList.remove("active");
  trigger?.setAttribute("aria-expanded", "false");
  state.panelTrigger = null;
  if (restoreFocus && trigger && trigger.isConnected) trigger.focus();
}

async function loadContext(paragraphId, view) {
  state.panelRequest?.abort();
  const controller = new AbortController();
  state.panelRequest = controller;
  try {
    const data = await getJSON(paragraphPath(paragraphId), { signal: controller.signal });
    if (controller.signal.aborted) return;
    renderPanel({
      ...view,
      doc: { ...view.doc, ...data.document },
      paragraph: data.paragraph,
      before: data.before,
      after: data.after,
      note: "",
    });
  } catch (err) {
    if (isAbort(err)) return;
    renderPanel({ ...view, note: `Không tải được các đoạn lân cận: ${errorMessage(err)}` });
  } finally {
    if (state.panelRequest === controller) state.panelRequest = null;
  }
}

function openCitation(citation, trigger) {
  // The citation already carries the paragraph and its document's header: show it at once, then add the
  // neighbouring paragraphs when they arrive.
  const view = {
    kicker: `Trích dẫn [${citation.marker}]`,
    doc: {
      title: citation.title,
      number: citation.number,
      issued: citation.issued,
      issuer: citation.issuer,
      type: citation.type,
    },
    paragraph: {
      paragraph_id: citation.paragraph_id,
      text: citation.text,
      section: citation.section,
      page: citation.page,
      kind: "body",
    },
    quote: citation.quote,
    quoteStart: citation.quote_start,
    note: "Đang tải các đoạn lân cận…",
  };
  showPanel(trigger);
  renderPanel(view);
  loadContext(citation.paragraph_id, view);
}

function openNearest(nearest, trigger) {
  const view = {
    kicker: "Văn bản gần nhất",
    doc: { title: nearest.title, number: nearest.number, issued: nearest.issued },
    paragraph: { paragraph_id: nearest.paragraph_id, text: "", section: "", page: null, kind: "body" },
    quote: "",
    quoteStart: null,
    note: "Đang tải đoạn văn…",
  };
  showPanel(trigger);
  renderPanel(view);
  loadContext(nearest.paragraph_id, view);
}

// -- documents page ------------------------------------------------------------------------------------

async function loadDocuments({ quiet = false } = {}) {
  if (!quiet) els.docsStatus.textContent = "Đang tải danh sách tài liệu…";
  try {
    const data = await getJSON("/api/v1/documents");
    state.documents = data.documents || [];
    fillYears(state.documents);
    renderDocuments();
    els.docsStatus.textContent = "";
  } catch (err) {
    if (!quiet) els.docsStatus.textContent = errorMessage(err);
  }
}

function documentSummary(documents) {
  const paragraphs = documents.reduce((sum, d) => sum + (Number(d.paragraphs) || 0), 0);
  const byType = new Map();
  for (const d of documents) byType.set(d.type, (byType.get(d.type) || 0) + 1);
  const kinds = [...byType].sort((a, b) => b[1] - a[1]).map(([type, n]) => `${n} ${type}`);
  const total = `${documents.length} văn bản, ${paragraphs.toLocaleString("vi")} đoạn văn`;
  return kinds.length ? `${total} (${kinds.join(", ")}).` : `${total}.`;
}

function byIssuedDesc(a, b) {
  return String(b.issued || "").localeCompare(String(a.issued || "")) || String(a.title).localeCompare(String(b.title), "vi");
}

function documentRow(doc) {
  const level = doc.classification && doc.classification !== "cong-khai" ? classificationLabel(doc.classification) : "";
  const askButton = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      "aria-label": `Hỏi về văn bản ${doc.number || doc.title}`,
      on: { click: () => askAbout(doc) },
    },
    "Hỏi về văn bản này",
  );
  const read = h(
    "a",
    {
      class: "btn btn-small",
      href: viewerRoute(doc.doc_id),
      "aria-label": `Xem toàn văn ${doc.number || doc.title}`,
      on: { click: () => openedViewer(null, "", null) },
    },
    "Xem toàn văn",
  );
  return h(
    "tr",
    {},
    h("td", { dataset: { label: "Số, ký hiệu" } }, doc.number || "—"),
    h("td", { class: "doc-name", dataset: { label: "Tên văn bản" } }, doc.title, level ? h("span", { class: "level" }, level) : null),
    h("td", { dataset: { label: "Loại" } }, typeLabel(doc.type)),
    h("td", { dataset: { label: "Cơ quan ban hành" } }, doc.issuer || "—"),
    h("td", { dataset: { label: "Ngày ban hành" } }, doc.issued ? h("time", { datetime: doc.issued }, formatDate(doc.issued)) : "—"),
    h("td", { class: "doc-action" }, read, askButton),
  );
}

function renderDocuments() {
  const documents = state.documents || [];
  // Every word typed must occur somewhere in the row, in any order ("chi thi an toan").
  const words = folded(els.docsSearch.value).split(/\s+/).filter(Boolean);
  const matches = (d) => {
    const haystack = folded([d.number, d.title, d.issuer, d.type, d.doc_id, formatDate(d.issued)].join(" "));
    return words.every((w) => haystack.includes(w));
  };
  const shown = documents.filter(matches).sort(byIssuedDesc);
  els.docsSummary.textContent = documents.length ? documentSummary(documents) : "Chưa có văn bản nào được nạp.";
  clear(els.docsBody).append(...shown.map(documentRow));
  if (documents.length && !shown.length) {
    els.docsBody.append(h("tr", {}, h("td", { colspan: "6", class: "empty" }, "Không có văn bản nào khớp với từ khóa.")));
  }
}

function askAbout(doc) {
  state.docScope = { doc_id: doc.doc_id, label: doc.number || doc.title };
  filtersChanged();
  // The user came to type a question: the route change focuses the question box, not the heading.
  state.focusAfterRoute = els.question;
  window.location.hash = "#/";
  announce(`Câu hỏi tiếp theo chỉ tìm trong văn bản ${state.docScope.label}.`);
}

// -- sign-in -------------------------------------------------------------------------------------------

const ROLE_LABELS = { reader: "người đọc", editor: "biên tập viên", admin: "quản trị viên" };

function showKeyForm(open) {
  if (state.account.mode === "public") return; // the local demo has no sign-in
  els.keyForm.hidden = !open;
  els.keyToggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) (state.account.mode === "session" ? els.signOut : els.apiKey).focus();
}

function accountLine(account) {
  const role = ROLE_LABELS[account.role] || account.role;
  return `${account.name} (${role}, xem đến mức ${classificationLabel(account.clearance).toLowerCase()})`;
}

function showKeyState() {
  state.upload?.refresh();
  els.adminLink.hidden = state.account.role !== "admin" || state.account.mode === "public";
  if (currentView() === "admin") renderAdmin(els.viewAdmin, state.account, window.location.hash.split("/")[2]);
  const account = state.account;
  const signedIn = account.mode === "session";
  els.keyToggle.hidden = account.mode === "public" || account.mode === "unknown";
  els.keyLong.textContent = signedIn ? `Tài khoản: ${account.name}` : "Đăng nhập";
  els.keyShort.textContent = signedIn ? "Tài khoản" : "Đăng nhập";
  els.signInRow.hidden = signedIn;
  els.signOut.hidden = !signedIn;
  els.accountInfo.textContent = signedIn ? `Đang đăng nhập: ${accountLine(account)}.` : "";
}

async function refreshAccount() {
  const before = state.account.mode;
  try {
    state.account = await getSession();
  } catch {
    state.account = { mode: "none" };
  }
  if (Number.isInteger(state.account.max_question_chars)) state.maxQuestion = state.account.max_question_chars;
  showQuestionLength();
  showKeyState();
  if (before === "session" && state.account.mode !== "session") {
    keyChanged("Phiên đăng nhập đã kết thúc; hãy đăng nhập lại.");
  }
}

async function submitSignIn(event) {
  event.preventDefault();
  const key = els.apiKey.value.trim();
  if (!key) {
    els.keyStatus.textContent = "Hãy nhập khóa truy cập do đơn vị cấp.";
    els.apiKey.focus();
    return;
  }
  try {
    state.account = await signIn(key);
  } catch (err) {
    els.keyStatus.textContent = errorMessage(err);
    els.apiKey.select();
    return;
  } finally {
    if (state.account.mode === "session") els.apiKey.value = ""; // the page keeps no key
  }
  keyChanged(`Đã đăng nhập: ${accountLine(state.account)}.`);
}

async function submitSignOut() {
  try {
    await signOut();
  } catch (err) {
    // The cookie could not be cleared by the server: say so, and still clear the screen.
    els.keyStatus.textContent = errorMessage(err);
  }
  state.account = { mode: "none" };
  els.question.value = "";
  keyChanged("Đã đăng xuất; nội dung trên màn hình đã được xóa.");
}

function keyChanged(message) {
  // Answers on screen were given under the previous account's clearance: a restricted answer must not stay
  // visible after signing out (or in as someone of lower clearance), nor feed the next follow-up.
  forgetConversation();
  state.docScope = null; // the scoped document's title came with the previous key
  filtersChanged();
  showKeyState();
  els.keyStatus.textContent = message;
  state.documents = null;
  loadDocuments({ quiet: !isDocsRoute() });
}

// -- routing -------------------------------------------------------------------------------------------

function isDocsRoute() {
  return window.location.hash.startsWith("#/tai-lieu");
}

/** Remember where the viewer is opened from (the link itself changes the route): the way back, the quote. */
function openedViewer(paragraphId, quote, quoteStart) {
  state.viewerFrom = {
    hash: window.location.hash || "#/",
    trigger: paragraphId ? state.panelTrigger : document.activeElement,
    paragraphId,
    quote: quote || "",
    quoteStart,
  };
}

function currentView() {
  if (parseViewerRoute(window.location.hash)) return "doc";
  if (window.location.hash.startsWith("#/quan-tri")) return "admin";
  return isDocsRoute() ? "docs" : "chat";
}

async function showViewer(target) {
  state.viewerRequest?.abort();
  const controller = new AbortController();
  state.viewerRequest = controller;
  const from = state.viewerFrom;
  const fromChat = from && !from.hash.startsWith("#/tai-lieu") && !from.hash.startsWith("#/van-ban/");
  const back = fromChat
    ? { href: from.hash, label: "Quay lại câu trả lời" }
    : { href: "#/tai-lieu", label: "Quay lại danh sách tài liệu" };
  const quoted = from && from.paragraphId === target.paragraphId ? from : null;
  const cited = target.paragraphId
    ? { paragraphId: target.paragraphId, quote: quoted?.quote || "", quoteStart: quoted?.quoteStart ?? null }
    : null;
  try {
    const { doc, citedElement } = await renderViewer(els.docView, { docId: target.docId, cited, back, signal: controller.signal });
    if (controller.signal.aborted) return;
    document.title = `${doc.number || doc.title} — Văn Kiện`;
    if (citedElement) {
      citedElement.scrollIntoView({ block: "center" });
      citedElement.focus({ preventScroll: true });
    } else {
      $("doc-view-title")?.focus();
    }
  } catch (err) {
    if (isAbort(err)) return;
    clear(els.docView).append(
      h("p", { class: "doc-back" }, h("a", { href: back.href }, `← ${back.label}`)),
      h("h1", { id: "doc-view-title", tabindex: "-1" }, "Không mở được văn bản"),
      h("p", { class: "status", role: "alert" }, errorMessage(err)),
    );
    $("doc-view-title").focus();
  } finally {
    if (state.viewerRequest === controller) state.viewerRequest = null;
  }
}

function route(initial = false) {
  const hash = window.location.hash;
  if (hash && !hash.startsWith("#/")) return; // in-page anchors such as the skip link
  const view = currentView();
  els.viewChat.hidden = view !== "chat";
  els.viewDocs.hidden = view !== "docs";
  els.viewDoc.hidden = view !== "doc";
  els.viewAdmin.hidden = view !== "admin";
  const nav = view === "doc" ? "docs" : view;
  for (const link of document.querySelectorAll(".mainnav a")) {
    if (link.dataset.route === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = view === "docs" ? "Tài liệu — Văn Kiện" : "Văn Kiện — Hỏi đáp văn kiện của Đảng";
  if (view !== "doc") state.viewerRequest?.abort();
  if (view === "doc") {
    closePanel(false);
    showViewer(parseViewerRoute(hash));
    return; // the viewer focuses the cited paragraph (or the title) once drawn
  }
  if (view === "admin") {
    closePanel(false);
    document.title = "Quản trị — Văn Kiện";
    const section = hash.split("/")[2] || "documents";
    renderAdmin(els.viewAdmin, state.account, section).then(() => {
      if (!initial) $("admin-title")?.focus();
    });
    return;
  }
  if (view === "docs") {
    closePanel(false);
    loadDocuments();
  }
  // Back from the viewer: focus the citation or button that opened it, when it is still on screen.
  const from = state.viewerFrom;
  if (from && from.trigger && from.trigger.isConnected && hash === from.hash && !state.focusAfterRoute) {
    state.focusAfterRoute = from.trigger;
  }
  // Moving focus to the new view's heading tells screen-reader users the page changed.
  const target = state.focusAfterRoute || (view === "docs" ? els.docsTitle : els.chatTitle);
  state.focusAfterRoute = null;
  if (!initial) target.focus();
}

// -- wiring --------------------------------------------------------------------------------------------

function onComposerKey(event) {
  // Enter sends; Shift+Enter is a new line. isComposing: Vietnamese input methods (Telex/VNI through an
  // IME) use Enter to commit a word and must not send a half-typed question.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  els.form.requestSubmit();
}

/** Show (or, with "", hide) a problem with the question under the composer; the question stays as typed. */
function composerError(message) {
  els.composerError.textContent = message;
  els.composerError.hidden = !message;
  els.question.setAttribute("aria-invalid", message ? "true" : "false");
}

/** The length of the question against the server's limit, shown from 80% of it on (and over it, as a warning). */
function showQuestionLength() {
  const length = els.question.value.trim().length;
  const limit = state.maxQuestion;
  const near = length >= limit * 0.8;
  els.composerCount.textContent = near
    ? `${length.toLocaleString("vi-VN")}/${limit.toLocaleString("vi-VN")} ký tự${length > limit ? " — quá dài, hãy rút gọn" : ""}`
    : "";
  els.composerCount.classList.toggle("over", length > limit);
}

function onSubmit(event) {
  event.preventDefault();
  const question = els.question.value.trim();
  if (!question) {
    composerError("Hãy nhập câu hỏi trước khi gửi.");
    els.question.focus();
    return;
  }
  if (question.length > state.maxQuestion) {
    // Never cut it silently (the question is usually at the end of a pasted passage): say so, keep the text.
    composerError(
      `Câu hỏi dài ${question.length.toLocaleString("vi-VN")} ký tự, tối đa ${state.maxQuestion.toLocaleString("vi-VN")}; ` +
        "hãy rút gọn rồi gửi lại.",
    );
    els.question.focus();
    return;
  }
  composerError("");
  els.question.value = "";
  showQuestionLength();
  ask(question);
}

function onGlobalKey(event) {
  if (event.key !== "Escape") return;
  if (!els.panel.hidden) {
    event.preventDefault();
    closePanel();
  } else if (!els.keyForm.hidden) {
    showKeyForm(false);
    els.keyToggle.focus();
  }
}

function bind() {
  els.form.addEventListener("submit", onSubmit);
  els.question.addEventListener("input", () => {
    if (!els.composerError.hidden) composerError("");
    showQuestionLength();
  });
  els.question.addEventListener("keydown", onComposerKey);
  els.stop.addEventListener("click", () => state.streaming?.abort());
  els.newChat.addEventListener("click", newConversation);
  for (const button of els.exportAll.querySelectorAll("button[data-format]")) {
    button.addEventListener("click", () => {
      const answers = state.turns.filter((t) => t.answer).map((t) => ({ ...t.answer, question: t.question }));
      exportTurns(answers, button.dataset.format, $("export-status"), button);
    });
  }
  els.saved.addEventListener("toggle", () => {
    if (els.saved.open) {
      els.savedStatus.textContent = "";
      loadSaved();
    }
  });
  for (const button of document.querySelectorAll("#examples .example")) {
    button.addEventListener("click", () => ask(button.textContent));
  }
  els.filters.addEventListener("change", filtersChanged);
  $("filters-clear").addEventListener("click", clearFilters);
  $("doc-scope-clear").addEventListener("click", () => {
    state.docScope = null;
    filtersChanged();
  });
  els.panelClose.addEventListener("click", () => closePanel());
  document.addEventListener("keydown", onGlobalKey);
  window.addEventListener("hashchange", () => route());
  els.docsSearch.addEventListener("input", renderDocuments);
  els.keyToggle.addEventListener("click", () => showKeyForm(els.keyForm.hidden));
  els.keyForm.addEventListener("submit", submitSignIn);
  els.signOut.addEventListener("click", submitSignOut);
  // The skip link targets #main; following it natively would look like a route change.
  $("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    els.main.focus();
  });
}

function init() {
  els = {
    main: $("main"),
    topbar: document.querySelector(".topbar"),
    form: $("ask-form"),
    question: $("question"),
    composerError: $("composer-error"),
    composerCount: $("composer-count"),
    send: $("send"),
    stop: $("stop"),
    intro: $("intro"),
    newChat: $("new-chat"),
    exportAll: $("export-all"),
    saved: $("saved"),
    savedList: $("saved-list"),
    savedStatus: $("saved-status"),
    conversation: $("conversation"),
    filters: $("filters"),
    filterCount: $("filter-count"),
    filterSummary: $("filter-summary"),
    yearFrom: $("year-from"),
    yearTo: $("year-to"),
    docScope: $("doc-scope"),
    docScopeLabel: $("doc-scope-label"),
    panel: $("panel"),
    panelTitle: $("panel-title"),
    panelBody: $("panel-body"),
    panelClose: $("panel-close"),
    viewChat: $("view-chat"),
    viewDocs: $("view-docs"),
    viewDoc: $("view-doc"),
    viewAdmin: $("view-admin"),
    adminLink: $("admin-link"),
    docView: $("doc-view"),
    chatTitle: $("chat-title"),
    docsTitle: $("docs-title"),
    docsSummary: $("docs-summary"),
    docsSearch: $("docs-search"),
    docsStatus: $("docs-status"),
    docsBody: $("docs-body"),
    keyToggle: $("key-toggle"),
    keyLong: $("key-label-long"),
    keyShort: $("key-label-short"),
    keyForm: $("key-form"),
    keyStatus: $("key-status"),
    apiKey: $("api-key"),
    signInRow: $("sign-in-row"),
    signOut: $("sign-out"),
    accountInfo: $("account-info"),
    announcer: h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" }),
  };
  document.body.append(els.announcer);
  state.upload = setupUpload($("upload"), {
    account: () => state.account,
    onIngested: () => loadDocuments({ quiet: true }),
  });
  bind();
  fillYears([]);
  filtersChanged();
  showKeyState();
  refreshAccount();
  const remembered = rememberedConversation();
  if (remembered) openConversation(remembered, { quiet: true });
  route(true);
  // The year choices come from the indexed documents; the chat works without them if this fails.
  if (!isDocsRoute()) loadDocuments({ quiet: true });
  document.documentElement.classList.add("js-ready");
}

init();
