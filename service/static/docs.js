// The API reference page: renders /openapi.json with the same text-node-only DOM helper as the chat page,
// so the page works offline under a Content-Security-Policy that allows scripts from this origin only.
"use strict";

import { h } from "./dom.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** Follow "#/components/schemas/X" references (at most a few levels, guarding against cycles). */
function resolve(spec, schema, seen = new Set()) {
  if (!schema || !schema.$ref) return schema || {};
  if (seen.has(schema.$ref)) return { title: schema.$ref.split("/").pop() };
  seen.add(schema.$ref);
  const path = schema.$ref.replace(/^#\//, "").split("/");
  let node = spec;
  for (const part of path) node = node ? node[part] : undefined;
  return resolve(spec, node, seen);
}

/** A one-line description of a schema's type and constraints. */
function typeLabel(spec, raw) {
  const schema = resolve(spec, raw);
  const variants = schema.anyOf || schema.oneOf;
  if (variants) return variants.map((v) => typeLabel(spec, v)).join(" | ");
  let label = schema.type || (raw && raw.$ref ? raw.$ref.split("/").pop() : "any");
  if (label === "array") label = `${typeLabel(spec, schema.items)}[]`;
  const notes = [];
  if (schema.format) notes.push(schema.format);
  if (schema.enum) notes.push(`một trong: ${schema.enum.join(", ")}`);
  if (schema.minimum !== undefined) notes.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) notes.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) notes.push(`tối thiểu ${schema.minLength} ký tự`);
  if (schema.maxLength !== undefined) notes.push(`tối đa ${schema.maxLength} ký tự`);
  if (schema.maxItems !== undefined) notes.push(`tối đa ${schema.maxItems} phần tử`);
  if (schema.pattern) notes.push(`mẫu ${schema.pattern}`);
  return notes.length ? `${label} (${notes.join("; ")})` : label;
}

/** The properties of an object schema, nested one level per object. */
function fields(spec, raw, depth = 0) {
  const schema = resolve(spec, raw);
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  if (!Object.keys(props).length || depth > 3) return h("p", { class: "type" }, typeLabel(spec, raw));
  return h(
    "ul",
    { class: "fields" },
    Object.entries(props).map(([name, sub]) => {
      const inner = resolve(spec, sub.items || sub);
      return h(
        "li",
        {},
        h("code", {}, name),
        required.has(name) ? " (bắt buộc) " : " ",
        h("span", { class: "type muted" }, typeLabel(spec, sub)),
        sub.description ? ` — ${sub.description}` : "",
        inner.properties ? fields(spec, inner, depth + 1) : null,
      );
    }),
  );
}

function parametersTable(spec, parameters) {
  if (!parameters || !parameters.length) return null;
  return [
    h("h4", {}, "Tham số"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", {}, "Tên"), h("th", {}, "Vị trí"), h("th", {}, "Kiểu"), h("th", {}, "Mô tả"))),
      h(
        "tbody",
        {},
        parameters.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
            h("td", {}, p.in),
            h("td", { class: "type" }, typeLabel(spec, p.schema)),
            h("td", {}, p.description || ""),
          ),
        ),
      ),
    ),
  ];
}

function requestBody(spec, body) {
  if (!body || !body.content) return null;
  return [
    h("h4", {}, "Nội dung gửi lên"),
    Object.entries(body.content).map(([type, media]) => [h("p", {}, h("code", {}, type)), fields(spec, media.schema)]),
  ];
}

function responses(spec, all) {
  return [
    h("h4", {}, "Kết quả"),
    h(
      "table",
      {},
      h("tbody", {},
        Object.entries(all || {}).map(([status, response]) => {
          const media = response.content ? Object.entries(response.content)[0] : null;
          return h(
            "tr",
            {},
            h("td", {}, h("code", {}, status)),
            h("td", {}, response.description || ""),
            h("td", { class: "type" }, media ? `${media[0]}: ${typeLabel(spec, media[1].schema)}` : ""),
          );
        }),
      ),
    ),
  ];
}

function operation(spec, path, method, op) {
  return h(
    "details",
    { class: "op" },
    h(
      "summary",
      {},
      h("span", { class: `method method-${method}` }, method),
      h("span", { class: "path" }, path),
      h("span", { class: "summary" }, op.summary || ""),
      op.security && op.security.length ? h("span", { class: "auth" }, "cần khóa API") : null,
    ),
    h(
      "div",
      { class: "op-body" },
      op.description ? h("p", {}, op.description) : null,
      parametersTable(spec, op.parameters),
      requestBody(spec, op.requestBody),
      responses(spec, op.responses),
    ),
  );
}

function render(spec) {
  const main = document.getElementById("docs-main");
  document.getElementById("docs-title").textContent = `${spec.info.title} ${spec.info.version} — Tài liệu API`;
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ["khác"])[0];
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(spec, path, method, item[method]));
    }
  }
  // replaceChildren takes nodes, not arrays (an array became the text "[object HTMLHeadingElement],…").
  main.replaceChildren(
    h("p", { class: "docs-description" }, spec.info.description || ""),
    ...[...groups.entries()].flatMap(([tag, ops]) => [h("h2", {}, tag), ...ops]),
  );
}

fetch("/openapi.json", { headers: { Accept: "application/json" } })
  .then((r) => {
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.json();
  })
  .then(render)
  .catch((err) => {
    document.getElementById("docs-status").textContent = `Không tải được lược đồ API (${err.message}).`;
  });
