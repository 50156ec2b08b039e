// Upload from the page for editors: drop files (or choose them), watch each one go up with a progress bar,
// then follow its ingestion job until the documents list shows it, or read why it was refused.
"use strict";

import { getJSON } from "./api.js";
import { classificationLabel, clear, h } from "./dom.js";

const LEVELS = ["cong-khai", "noi-bo", "mat", "toi-mat"];
const POLL_MS = 800;
const STATUS_LABELS = {
  queued: "Đang chờ nạp…",
  running: "Đang nạp…",
};
const FILE_RESULTS = {
  ok: "đã nạp",
  replaced: "đã nạp (thay bản cũ)",
  unchanged: "đã có sẵn, không thay đổi",
  rejected: "bị từ chối",
};

function sizeText(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024)).toLocaleString("vi-VN")} KB`;
  return `${(bytes / 1024 / 1024).toLocaleString("vi-VN", { maximumFractionDigits: 1 })} MB`;
}

/** POST one file with its classification; `onProgress(fraction)` while it goes up (fetch cannot report that). */
function send(file, classification, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("classification", classification);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/documents");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Vankien-Csrf", "1");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: a proxy's page */
      }
      if (xhr.status === 202 && body) resolve(body);
      else reject(new Error(body?.error?.message || `Máy chủ không nhận tệp (mã ${xhr.status}).`));
    });
    xhr.addEventListener("error", () => reject(new Error("Không kết nối được tới máy chủ; tệp chưa được gửi.")));
    xhr.send(form);
  });
}

function jobOutcome(job) {
  if (job.status === "failed") return { ok: false, text: `Nạp không thành công: ${job.error || "lỗi không rõ"}` };
  const files = job.files || [];
  const rejected = files.filter((f) => f.status === "rejected");
  if (rejected.length) return { ok: false, text: `Bị từ chối: ${rejected.map((f) => f.reason).filter(Boolean).join("; ") || "tệp không đọc được"}` };
  const parts = files.map((f) => `${FILE_RESULTS[f.status] || f.status}${f.paragraphs ? `, ${f.paragraphs.toLocaleString("vi-VN")} đoạn` : ""}`);
  return { ok: true, text: `Xong: ${parts.join("; ") || "đã nạp"}.` };
}

/**
 * Fill `container` with the upload area. `account()` gives the signed-in account (its role decides whether
 * the area shows, its clearance which levels may be chosen); `onIngested()` runs after a file is in the library.
 */
export function setupUpload(container, { account, onIngested }) {
  // The native input stays out of sight and out of the tab order; a real button opens its chooser, so the
  // keyboard reaches a visible control with a clear name.
  const input = h("input", { type: "file", id: "upload-input", multiple: true, class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  const choose = h("button", { type: "button", class: "btn btn-small", on: { click: () => input.click() } }, "Chọn tệp…");
  const level = h("select", { id: "upload-level" });
  const list = h("ul", { class: "upload-list", "aria-label": "Tệp đang tải lên", "aria-live": "polite" });
  const zone = h(
    "div",
    { class: "drop-zone", id: "drop-zone" },
    h("p", {}, "Kéo thả tệp vào đây, hoặc "),
    choose,
    input,
  );
  const hint = h("p", { class: "hint", id: "upload-hint" });

  function refresh() {
    const who = account();
    const allowed = who && (who.role === "editor" || who.role === "admin");
    container.hidden = !allowed;
    if (!allowed) return;
    const top = LEVELS.indexOf(who.clearance);
    const chosen = level.value;
    clear(level).append(...LEVELS.slice(0, top + 1).map((l) => h("option", { value: l }, classificationLabel(l))));
    if (chosen && LEVELS.indexOf(chosen) <= top) level.value = chosen;
  }

  async function follow(row, jobId, status, bar) {
    for (;;) {
      let job;
      try {
        job = await getJSON(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
      } catch (err) {
        status.textContent = `Không xem được trạng thái nạp: ${err.message}`;
        return;
      }
      if (job.status === "done" || job.status === "failed") {
        const outcome = jobOutcome(job);
        status.textContent = outcome.text;
        row.classList.add(outcome.ok ? "upload-ok" : "upload-failed");
        bar.remove();
        if (outcome.ok) onIngested();
        return;
      }
      status.textContent = STATUS_LABELS[job.status] || job.status;
      bar.removeAttribute("value"); // indeterminate while the server works
      await new Promise((done) => window.setTimeout(done, POLL_MS));
    }
  }

  async function upload(file) {
    const bar = h("progress", { max: "1", value: "0", "aria-label": `Tiến độ tải lên ${file.name}` });
    const status = h("span", { class: "upload-status" }, "Đang tải lên…");
    const row = h("li", { class: "upload-row" }, h("span", { class: "upload-name" }, `${file.name} (${sizeText(file.size)})`), bar, status);
    list.prepend(row);
    try {
      const accepted = await send(file, level.value, (fraction) => {
        bar.value = fraction;
        status.textContent = `Đang tải lên… ${Math.round(fraction * 100)}%`;
      });
      bar.value = 1;
      status.textContent = "Đã nhận, đang chờ nạp…";
      await follow(row, accepted.job_id, status, bar);
    } catch (err) {
      bar.remove();
      row.classList.add("upload-failed");
      status.textContent = err.message;
    }
  }

  function take(files) {
    for (const file of files) upload(file);
  }

  input.addEventListener("change", () => {
    take([...input.files]);
    input.value = ""; // choosing the same file again still uploads it
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    take([...(event.dataTransfer?.files || [])]);
  });
  hint.textContent = "Định dạng: .pdf, .docx, .html, .md, .txt, .jsonl. Tài liệu được nạp ở chế độ nền; khi xong sẽ có trong danh sách dưới đây.";
  clear(container).append(
    h("h2", { id: "upload-title" }, "Tải tài liệu lên"),
    h("div", { class: "upload-controls" }, h("label", { for: "upload-level" }, "Mức độ"), level),
    zone,
    hint,
    list,
  );
  refresh();
  return { refresh };
}
