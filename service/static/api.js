// HTTP access to the Văn Kiện API: JSON requests, sign-in, and the server-sent event stream.
// ES modules are always in strict mode; the directive is kept so the intent survives copy-paste.
"use strict";

const NETWORK_MESSAGE = "Không kết nối được tới máy chủ. Vui lòng kiểm tra mạng nội bộ rồi thử lại.";
const CUT_MESSAGE = "Kết nối bị ngắt trước khi nhận đủ câu trả lời. Vui lòng thử lại.";

/** An API failure whose `message` is Vietnamese and fit to show the user. */
export class ApiError extends Error {
  constructor(message, status = 0, code = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// The page never holds a key: signing in trades it for an HttpOnly session cookie (no script can read it), and
// every request carries the header that tells the service it comes from this page, not from another site.
function headers(extra = {}) {
  return { Accept: "application/json", "X-Vankien-Csrf": "1", ...extra };
}

function statusMessage(status) {
  if (status === 401) return "Cần đăng nhập bằng khóa đơn vị đã cấp để thực hiện yêu cầu này.";
  if (status === 403) return "Tài khoản đang đăng nhập không có quyền thực hiện yêu cầu này.";
  if (status === 404) return "Không tìm thấy nội dung được yêu cầu.";
  if (status === 413) return "Yêu cầu quá lớn.";
  if (status === 422 || status === 400) return "Yêu cầu không hợp lệ.";
  if (status === 429) return "Có quá nhiều yêu cầu. Vui lòng thử lại sau ít phút.";
  if (status >= 500) return "Máy chủ gặp lỗi khi xử lý yêu cầu. Vui lòng thử lại.";
  return `Yêu cầu không thành công (mã ${status}).`;
}

// The service answers errors as {"error": {"code", "message"}} with a Vietnamese message. Anything else
// (a proxy's HTML page, a bare framework error) gets a generic Vietnamese message chosen by status.
async function errorFrom(response) {
  let message = "";
  let code = "";
  try {
    const body = await response.json();
    if (body && body.error && typeof body.error.message === "string") {
      message = body.error.message;
      code = String(body.error.code || "");
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(message || statusMessage(response.status), response.status, code);
}

async function send(path, init) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(NETWORK_MESSAGE, 0, "network");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function getJSON(path, { signal } = {}) {
  const response = await send(path, { headers: headers(), signal });
  return response.json();
}

export async function postJSON(path, body, { signal } = {}) {
  const response = await send(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  // 201/204 may carry no body; callers of such endpoints only need to know it succeeded.
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * POST a JSON body to an endpoint that answers with a file, and hand the file to the browser as a download
 * named as the server says (Content-Disposition). Resolves to the file name.
 */
export async function downloadFile(path, body, fallbackName) {
  const init = body === null
    ? { headers: headers({ Accept: "*/*" }) }
    : { method: "POST", headers: headers({ "Content-Type": "application/json", Accept: "*/*" }), body: JSON.stringify(body) };
  const response = await send(path, init);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const name = match ? match[1] : fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked a little later: some browsers start reading the blob only after the click has returned.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

/** The signed-in user's saved conversations (`service/routers/conversations.py`). */
export const conversations = {
  list: () => getJSON("/api/v1/conversations"),
  create: () => postJSON("/api/v1/conversations", {}),
  get: (id) => getJSON(`/api/v1/conversations/${encodeURIComponent(id)}`),
  rename: async (id, title) => {
    const response = await send(`/api/v1/conversations/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ title }),
    });
    return response.json();
  },
  remove: async (id) => {
    await send(`/api/v1/conversations/${encodeURIComponent(id)}`, { method: "DELETE", headers: headers() });
  },
};

/** DELETE a resource (204 expected). */
export async function remove(path) {
  await send(path, { method: "DELETE", headers: headers() });
}

/** Who the page acts as: {mode: "public" | "session" | "none", name, role, clearance, expires_at}. */
export async function getSession() {
  return getJSON("/api/v1/session");
}

/** Sign in with the key the unit issued; the service answers with a session cookie. */
export async function signIn(key) {
  return postJSON("/api/v1/session", { key });
}

/** Sign out: the session ends on the server and its cookie is cleared. */
export async function signOut() {
  await send("/api/v1/session", { method: "DELETE", headers: headers() });
}

/**
 * Incremental parser for text/event-stream (WHATWG "server-sent events" rules): lines end in LF, CR or
 * CRLF, a blank line dispatches, ":" starts a comment (keep-alive), one leading space after ":" is dropped.
 */
export class EventStreamParser {
  constructor() {
    this.partial = "";
    this.skipLF = false; // the previous chunk ended in CR; a leading LF belongs to that line ending
    this.type = "";
    this.data = [];
  }

  /** Feed a decoded chunk; returns the events it completed as [{event, data}]. */
  push(chunk) {
    let text = chunk;
    if (this.skipLF && text.startsWith("\n")) text = text.slice(1);
    this.skipLF = text.endsWith("\r");
    const lines = (this.partial + text).split(/\r\n|\r|\n/);
    this.partial = lines.pop(); // the unterminated rest ("" when the chunk ended a line)
    const events = [];
    for (const line of lines) {
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  /** The event left when the stream ends without its closing blank line (lenient, unlike browsers). */
  finish() {
    const events = [];
    if (this.partial) {
      const event = this.line(this.partial);
      this.partial = "";
      if (event) events.push(event);
    }
    const last = this.line("");
    if (last) events.push(last);
    return events;
  }

  line(line) {
    if (line === "") {
      if (this.data.length === 0) {
        this.type = "";
        return null;
      }
      const event = { event: this.type || "message", data: this.data.join("\n") };
      this.type = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    return null;
  }
}

function parseData(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/**
 * Ask with streaming. fetch() and a stream reader, because EventSource cannot POST a JSON body.
 * Calls onDelta(text) for each piece; resolves with the verified answer JSON, which replaces the pieces.
 * Rejects with ApiError (message shown to the user) or an AbortError when `signal` aborts.
 */
export async function askStream(body, { signal, onDelta } = {}) {
  const response = await send("/api/v1/ask/stream", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  const kind = response.headers.get("Content-Type") || "";
  if (!response.body || !kind.includes("text/event-stream")) {
    // A proxy that buffers or rewrites the stream: read the whole thing, or fall back to the plain endpoint.
    if (kind.includes("application/json")) return response.json();
    return postJSON("/api/v1/ask", body, { signal });
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventStreamParser();
  let answer = null;
  let failure = null;
  const handle = (event) => {
    const data = parseData(event.data);
    if (event.event === "delta" && data && typeof data.text === "string") onDelta?.(data.text);
    else if (event.event === "answer" && data) answer = data;
    else if (event.event === "error") failure = new ApiError((data && data.message) || CUT_MESSAGE, 0, "stream");
    return event.event === "done";
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done ? parser.finish() : parser.push(value);
      if (events.some(handle) || done) break;
    }
  } catch (err) {
    // Cancel only a stream given up on: after "done" the server closes it itself, and cancelling a body
    // that is about to end would make the browser drop it (devtools could not show the response).
    reader.cancel().catch(() => {});
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(CUT_MESSAGE, 0, "network");
  }
  reader.releaseLock();
  if (failure) throw failure;
  if (!answer) throw new ApiError(CUT_MESSAGE, 0, "cut");
  return answer;
}

// Paragraph ids look like "nq-57-2024/p0031": each segment is escaped, the slash is kept for the route.
export function paragraphPath(paragraphId, before = 2, after = 2) {
  const path = String(paragraphId).split("/").map(encodeURIComponent).join("/");
  return `/api/v1/paragraphs/${path}?before=${before}&after=${after}`;
}
