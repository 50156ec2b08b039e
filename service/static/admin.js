// The admin page: documents (with provenance, delete), API keys (list, create with the secret shown once,
// revoke), ingestion jobs, and the review of answer ratings (mark reviewed with the expected answer, export as
// an eval QA file). Only drawn for an admin; every action is checked again by the server.
"use strict";

import { downloadFile, getJSON, postJSON, remove } from "./api.js";
import { classificationLabel, clear, copyText, folded, formatDate, h, provenanceText, typeLabel } from "./dom.js";
import { viewerRoute } from "./viewer.js";

const LEVELS = ["cong-khai", "noi-bo", "mat", "toi-mat"];
const ROLES = { reader: "Người đọc", editor: "Biên tập viên", admin: "Quản trị viên" };
const JOB_STATUS = { queued: "đang chờ", running: "đang nạp", done: "xong", failed: "lỗi" };
const SECTIONS = [
  ["documents", "Tài liệu"],
  ["keys", "Khóa truy cập"],
  ["jobs", "Tác vụ nạp"],
  ["feedback", "Góp ý"],
];

function messageOf(err) {
  return err && err.message ? err.message : "Đã xảy ra lỗi không mong đợi.";
}

/** A button that asks for a second press before doing something that cannot be undone. */
function confirmButton(label, confirmLabel, action) {
  const button = h("button", { type: "button", class: "btn btn-small" }, label);
  button.addEventListener("click", async () => {
    if (button.dataset.confirm !== "1") {
      button.dataset.confirm = "1";
      button.textContent = confirmLabel;
      button.classList.add("btn-danger");
      return;
    }
    button.disabled = true;
    await action();
  });
  button.addEventListener("blur", () => {
    if (button.dataset.confirm === "1" && !button.disabled) {
      button.dataset.confirm = "";
      button.textContent = label;
      button.classList.remove("btn-danger");
    }
  });
  return button;
}

function table(caption, headings, rows, empty) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "docs-table admin-table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: String(headings.length), class: "empty" }, empty))),
    ),
  );
}

function cell(label, ...content) {
  return h("td", { dataset: { label } }, ...content);
}

// -- documents -----------------------------------------------------------------------------------------

async function followJob(jobId, status, label) {
  for (;;) {
    const job = await getJSON(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
    if (job.status === "done") {
      status.textContent = `Đã nạp lại xong ${label}.`;
      return;
    }
    if (job.status === "failed") {
      status.textContent = `Nạp lại ${label} không thành công: ${job.error || "lỗi không rõ"}`;
      return;
    }
    status.textContent = `Đang nạp lại ${label}…`;
    await new Promise((done) => window.setTimeout(done, 800));
  }
}

async function documentsSection(body, status) {
  const data = await getJSON("/api/v1/documents");
  const search = h("input", { type: "search", id: "admin-docs-search", placeholder: "Số hiệu, tên, loại, mức độ…", autocomplete: "off" });
  const rows = data.documents.map((doc) => {
    const detail = h("span", { class: "provenance" }, "…");
    getJSON(`/api/v1/documents/${encodeURIComponent(doc.doc_id)}`)
      .then((full) => {
        detail.textContent = provenanceText(full.provenance) || "—";
      })
      .catch(() => {
        detail.textContent = "—";
      });
    const label = doc.number || doc.title;
    const reingest = h("button", { type: "button", class: "btn btn-small", "aria-label": `Nạp lại ${label}` }, "Nạp lại");
    reingest.addEventListener("click", async () => {
      reingest.disabled = true;
      try {
        const job = await postJSON(`/api/v1/documents/${encodeURIComponent(doc.doc_id)}/reingest`, {});
        await followJob(job.job_id, status, label);
      } catch (err) {
        status.textContent = messageOf(err);
      } finally {
        reingest.disabled = false;
      }
    });
    const row = h(
      "tr",
      { dataset: { search: folded([doc.number, doc.title, doc.type, classificationLabel(doc.classification), doc.doc_id].join(" ")) } },
      cell("Số, ký hiệu", doc.number || "—"),
      cell("Tên văn bản", h("a", { href: viewerRoute(doc.doc_id) }, doc.title)),
      cell("Loại", typeLabel(doc.type)),
      cell("Mức độ", classificationLabel(doc.classification)),
      cell("Đoạn", String(doc.paragraphs)),
      cell("Nguồn nạp", detail),
      h(
        "td",
        { class: "doc-action" },
        reingest,
        confirmButton("Xóa", "Bấm lần nữa để xóa", async () => {
          try {
            await remove(`/api/v1/documents/${encodeURIComponent(doc.doc_id)}`);
            row.remove();
            status.textContent = `Đã xóa ${doc.number || doc.title}.`;
          } catch (err) {
            status.textContent = messageOf(err);
          }
        }),
      ),
    );
    return row;
  });
  search.addEventListener("input", () => {
    const words = folded(search.value).split(/\s+/).filter(Boolean);
    for (const row of rows) row.hidden = !words.every((w) => row.dataset.search.includes(w));
  });
  clear(body).append(
    h("div", { class: "admin-form" }, h("label", { for: "admin-docs-search" }, "Lọc"), search),
    table("Tài liệu", ["Số, ký hiệu", "Tên văn bản", "Loại", "Mức độ", "Đoạn", "Nguồn nạp", ""], rows, "Chưa có tài liệu."),
  );
}

// -- keys ----------------------------------------------------------------------------------------------

async function keysSection(body, status, account) {
  const data = await getJSON("/api/v1/keys");
  const top = LEVELS.indexOf(account.clearance);
  const name = h("input", { type: "text", id: "key-name", maxlength: "64", autocomplete: "off", spellcheck: "false" });
  const role = h("select", { id: "key-role" }, Object.entries(ROLES).map(([v, t]) => h("option", { value: v }, t)));
  const level = h("select", { id: "key-level" }, LEVELS.slice(0, top + 1).map((l) => h("option", { value: l }, classificationLabel(l))));
  const secretBox = h("div", { class: "secret-box", hidden: true, role: "alert" });
  const form = h(
    "form",
    { class: "admin-form", "aria-label": "Tạo khóa mới" },
    h("label", { for: "key-name" }, "Tên (không dấu)"),
    name,
    h("label", { for: "key-role" }, "Vai trò"),
    role,
    h("label", { for: "key-level" }, "Được xem đến mức"),
    level,
    h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Tạo khóa"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await postJSON("/api/v1/keys", { name: name.value.trim() || null, role: role.value, clearance: level.value });
      const copy = h("button", { type: "button", class: "btn btn-small" }, "Sao chép khóa");
      copy.addEventListener("click", async () => {
        copy.textContent = (await copyText(made.key)) ? "Đã sao chép" : "Hãy chọn và sao chép thủ công";
      });
      clear(secretBox).append(
        h("p", {}, `Khóa của ${made.name}: chỉ hiện một lần này, hãy gửi cho người dùng qua kênh an toàn.`),
        h("code", { class: "secret" }, made.key),
        copy,
      );
      secretBox.hidden = false;
      name.value = "";
      await keysSection(body, status, account);
      body.prepend(secretBox);
    } catch (err) {
      status.textContent = messageOf(err);
    }
  });
  const rows = data.keys.map((key) =>
    h(
      "tr",
      {},
      cell("Tên", key.name),
      cell("Vai trò", ROLES[key.role] || key.role),
      cell("Được xem", classificationLabel(key.clearance)),
      cell("Nhận diện", h("code", {}, `${key.prefix}…`)),
      cell("Tạo lúc", formatDate(key.created.slice(0, 10))),
      cell("Trạng thái", key.revoked ? `đã thu hồi ${formatDate(key.revoked.slice(0, 10))}` : "đang dùng"),
      h(
        "td",
        { class: "doc-action" },
        key.revoked
          ? null
          : confirmButton("Thu hồi", "Bấm lần nữa để thu hồi", async () => {
              try {
                await remove(`/api/v1/keys/${encodeURIComponent(key.key_id)}`);
                status.textContent = `Đã thu hồi khóa ${key.name}.`;
                await keysSection(body, status, account);
              } catch (err) {
                status.textContent = messageOf(err);
                await keysSection(body, status, account);
              }
            }),
      ),
    ),
  );
  clear(body).append(
    form,
    table("Khóa truy cập", ["Tên", "Vai trò", "Được xem", "Nhận diện", "Tạo lúc", "Trạng thái", ""], rows, "Chưa có khóa."),
  );
}

// -- jobs ----------------------------------------------------------------------------------------------

async function jobsSection(body) {
  const data = await getJSON("/api/v1/jobs?limit=100");
  const rows = data.jobs.map((job) => {
    const reasons = (job.files || []).map((f) => f.reason).filter(Boolean);
    return h(
      "tr",
      {},
      cell("Tệp", job.filename || job.job_id),
      cell("Trạng thái", JOB_STATUS[job.status] || job.status),
      cell("Mức độ", classificationLabel(job.classification)),
      cell("Gửi lúc", job.created ? `${formatDate(job.created.slice(0, 10))} ${job.created.slice(11, 16)}` : "—"),
      cell("Kết quả", job.error || reasons.join("; ") || (job.files || []).map((f) => `${f.paragraphs} đoạn`).join(", ") || "—"),
    );
  });
  clear(body).append(table("Tác vụ nạp", ["Tệp", "Trạng thái", "Mức độ", "Gửi lúc", "Kết quả"], rows, "Chưa có tệp nào được tải lên."));
}

// -- feedback review -----------------------------------------------------------------------------------

function reviewForm(item, onSaved) {
  const id = `review-${item.id}`;
  const expected = h("textarea", { id: `${id}-expected`, rows: "2", maxlength: "8000" });
  expected.value = item.review?.expected || "";
  const refuse = h("input", { type: "checkbox", id: `${id}-refuse` });
  refuse.checked = item.review ? item.review.answerable === false : false;
  const note = h("input", { type: "text", id: `${id}-note`, maxlength: "2000" });
  note.value = item.review?.note || "";
  const saved = h("span", { class: "action-status", role: "status" });
  const form = h(
    "form",
    { class: "review-form", "aria-label": "Xem xét góp ý" },
    h("label", { for: expected.id }, "Câu trả lời đúng lẽ ra phải có"),
    expected,
    h("label", { class: "check" }, refuse, " Tài liệu không trả lời được câu này (lẽ ra phải từ chối)"),
    h("label", { for: note.id }, "Ghi chú"),
    note,
    h("div", { class: "action-row" }, h("button", { type: "submit", class: "btn btn-small btn-primary" }, "Đánh dấu đã xem xét"), saved),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await postJSON(`/api/v1/feedback/${encodeURIComponent(item.id)}/review`, {
        expected: expected.value.trim(),
        answerable: !refuse.checked,
        note: note.value.trim(),
      });
      saved.textContent = "Đã lưu.";
      onSaved();
    } catch (err) {
      saved.textContent = messageOf(err);
    }
  });
  return form;
}

function feedbackCard(item, onSaved) {
  const rating = item.rating === "down" ? "Chưa đúng" : "Hữu ích";
  const cited = item.paragraphs.map((p) =>
    h(
      "li",
      {},
      p.missing
        ? `${p.paragraph_id}: đoạn này không còn (hoặc vượt mức được xem).`
        : [h("strong", {}, `${p.number || p.title} — ${p.section || "đầu văn bản"}: `), p.text],
    ),
  );
  return h(
    "article",
    { class: `feedback-card${item.review?.reviewed ? " reviewed" : ""}`, dataset: { id: item.id } },
    h(
      "p",
      { class: "feedback-meta" },
      h("span", { class: `rating rating-${item.rating}` }, rating),
      ` · ${item.key || "?"} · ${item.ts ? formatDate(item.ts.slice(0, 10)) : ""}`,
      item.review?.reviewed ? ` · đã xem xét (${item.review.reviewer})` : " · chưa xem xét",
    ),
    h("h3", {}, item.question),
    h("p", { class: "feedback-answer" }, item.answer),
    item.comment ? h("p", { class: "feedback-comment" }, `Góp ý: ${item.comment}`) : null,
    cited.length ? h("details", {}, h("summary", {}, `Đoạn được trích dẫn (${cited.length})`), h("ol", {}, cited)) : null,
    reviewForm(item, onSaved),
  );
}

async function feedbackSection(body, status) {
  const filter = h(
    "select",
    { id: "feedback-filter" },
    h("option", { value: "reviewed=false" }, "Chưa xem xét"),
    h("option", { value: "rating=down&reviewed=false" }, "Chưa đúng, chưa xem xét"),
    h("option", { value: "reviewed=true" }, "Đã xem xét"),
    h("option", { value: "" }, "Tất cả"),
  );
  const list = h("div", { class: "feedback-list" });
  const exportButton = h("button", { type: "button", class: "btn btn-small" }, "Tải tệp câu hỏi đánh giá (.jsonl)");
  exportButton.addEventListener("click", async () => {
    try {
      const name = await downloadFile("/api/v1/feedback/export", null, "gop-y.jsonl");
      status.textContent = `Đã tải về ${name}: dùng với "vankien eval qa --qa ${name}".`;
    } catch (err) {
      status.textContent = messageOf(err);
    }
  });
  async function load() {
    const data = await getJSON(`/api/v1/feedback?${filter.value}`);
    clear(list).append(...data.feedback.map((item) => feedbackCard(item, () => load().catch(() => {}))));
    if (!data.feedback.length) list.append(h("p", { class: "empty" }, "Không có góp ý nào ở mục này."));
  }
  filter.addEventListener("change", () => load().catch((err) => (status.textContent = messageOf(err))));
  clear(body).append(
    h("div", { class: "admin-form" }, h("label", { for: "feedback-filter" }, "Hiện"), filter, exportButton),
    h("p", { class: "hint" }, "Góp ý đã xem xét có câu trả lời đúng (hoặc đánh dấu lẽ ra phải từ chối) được xuất thành câu hỏi đánh giá cho vankien eval qa."),
    list,
  );
  await load();
}

const LOADERS = { documents: documentsSection, keys: keysSection, jobs: jobsSection, feedback: feedbackSection };

/** Draw the admin page in `container` for `account`, on section `name` (one of SECTIONS). */
export async function renderAdmin(container, account, name) {
  const current = LOADERS[name] ? name : "documents";
  const status = h("p", { class: "status", role: "status" });
  const body = h("div", { class: "admin-body", id: `admin-${current}` }, h("p", { class: "status" }, "Đang tải…"));
  const tabs = h(
    "nav",
    { class: "admin-tabs", "aria-label": "Mục quản trị" },
    SECTIONS.map(([key, label]) =>
      h("a", { href: `#/quan-tri/${key}`, "aria-current": key === current ? "page" : null }, label),
    ),
  );
  clear(container).append(h("h1", { id: "admin-title", tabindex: "-1" }, "Quản trị"), tabs, status, body);
  if (!account || account.role !== "admin") {
    clear(body).append(h("p", { class: "status", role: "alert" }, "Chỉ quản trị viên mới xem được trang này; hãy đăng nhập bằng khóa quản trị."));
    return;
  }
  try {
    await LOADERS[current](body, status, account);
  } catch (err) {
    clear(body).append(h("p", { class: "status", role: "alert" }, messageOf(err)));
  }
}
