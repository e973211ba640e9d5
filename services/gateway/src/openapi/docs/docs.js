// Renders /openapi.json (same origin) into this page: the API's description, its security scheme,
// the table of error codes, every operation by tag (scope, parameters, request bodies, responses
// and their examples) and every schema. No library, nothing fetched from elsewhere.
"use strict";

(function () {
  const METHODS = ["get", "post", "put", "patch", "delete"];
  let doc = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Inline markdown of descriptions: `code`, **bold**, paragraphs. Text only, never HTML.
  function text(markdown) {
    const out = el("span", { class: "desc" });
    if (!markdown) return out;
    const parts = String(markdown).split(/(`[^`]*`|\*\*[^*]+\*\*|\n\n)/);
    for (const part of parts) {
      if (part.startsWith("`") && part.endsWith("`") && part.length > 1) out.append(el("code", {}, part.slice(1, -1)));
      else if (part.startsWith("**") && part.endsWith("**") && part.length > 3) out.append(el("strong", {}, part.slice(2, -2)));
      else if (part === "\n\n") out.append(el("br"), el("br"));
      else out.append(document.createTextNode(part));
    }
    return out;
  }

  function anchor(kind, name) {
    return kind + "-" + String(name).replace(/[^A-Za-z0-9_-]/g, "_");
  }

  function refName(ref) {
    return ref.replace(/^#\/components\/(schemas|responses)\//, "");
  }

  function resolveResponse(response) {
    if (response && response.$ref) return (doc.components.responses || {})[refName(response.$ref)] || {};
    return response || {};
  }

  function typeLabel(schema) {
    if (!schema) return "any";
    if (schema.$ref) {
      const name = refName(schema.$ref);
      return el("a", { href: "#" + anchor("schema", name) }, name);
    }
    if (schema.oneOf || schema.anyOf) {
      const list = schema.oneOf || schema.anyOf;
      const label = el("span");
      list.forEach((item, i) => { if (i) label.append(" | "); label.append(typeLabel(item)); });
      return label;
    }
    let type = schema.type;
    if (Array.isArray(type)) type = type.join(" | ");
    if (!type && schema.properties) type = "object";
    if (!type) type = "any";
    if (type.includes("array") && schema.items) {
      const label = el("span", {}, "array of ");
      label.append(typeLabel(schema.items));
      if (type.includes("null")) label.append(" | null");
      return label;
    }
    let label = type;
    if (schema.format) label += " (" + schema.format + ")";
    return label;
  }

  function constraints(schema) {
    const notes = [];
    if (!schema) return notes;
    if (schema.enum) notes.push("one of: " + schema.enum.map((v) => JSON.stringify(v)).join(", "));
    if (schema.minimum !== undefined) notes.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) notes.push("≤ " + schema.maximum);
    if (schema.minLength !== undefined) notes.push("min length " + schema.minLength);
    if (schema.maxLength !== undefined) notes.push("max length " + schema.maxLength);
    if (schema.default !== undefined) notes.push("default " + JSON.stringify(schema.default));
    return notes;
  }

  // A schema as a tree of its properties (references link to the schema's own section).
  function schemaTree(schema, depth) {
    const root = el("div", { class: "schema" });
    if (!schema) return root;
    const head = el("div", {}, el("span", { class: "type" }, typeLabel(schema)));
    const notes = constraints(schema);
    if (notes.length) head.append(" — ", notes.join("; "));
    if (schema.description && depth === 0) head.append(" ", text(schema.description));
    root.append(head);
    const props = schema.properties || (schema.items && schema.items.properties);
    if (props && depth < 6) {
      const required = new Set(schema.required || (schema.items && schema.items.required) || []);
      const list = el("ul");
      for (const [name, prop] of Object.entries(props)) {
        const item = el("li", {}, el("code", {}, name), " ", el("span", { class: "type" }, typeLabel(prop)));
        if (required.has(name)) item.append(" ", el("span", { class: "req" }, "required"));
        const extra = constraints(prop);
        if (extra.length) item.append(" — ", extra.join("; "));
        if (prop.description) item.append(" — ", text(prop.description));
        if (!prop.$ref && (prop.properties || (prop.items && prop.items.properties))) item.append(schemaTree(prop, depth + 1));
        list.append(item);
      }
      root.append(list);
    }
    if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
      root.append(el("div", {}, "values: ", el("span", { class: "type" }, typeLabel(schema.additionalProperties))));
    }
    return root;
  }

  function example(media) {
    if (!media) return null;
    let value = media.example;
    if (value === undefined && media.examples) {
      const first = Object.values(media.examples)[0];
      value = first && first.value;
    }
    if (value === undefined && media.schema && media.schema.$ref) {
      const target = (doc.components.schemas || {})[refName(media.schema.$ref)];
      if (target && target.example !== undefined) value = target.example;
      if (target && value === undefined && target.examples) value = target.examples[0];
    }
    if (value === undefined) return null;
    return el("details", {}, el("summary", {}, "example"), el("pre", {}, typeof value === "string" ? value : JSON.stringify(value, null, 2)));
  }

  function contentBlock(content) {
    const block = el("div");
    for (const [type, media] of Object.entries(content || {})) {
      block.append(el("div", {}, el("code", {}, type)));
      if (media.schema) block.append(schemaTree(media.schema, 0));
      const ex = example(media);
      if (ex) block.append(ex);
    }
    return block;
  }

  function scopesOf(operation) {
    const security = operation.security || doc.security || [];
    const scopes = [];
    for (const requirement of security) for (const [name, list] of Object.entries(requirement)) scopes.push(name + (list.length ? ": " + list.join(", ") : ""));
    return scopes;
  }

  function operationSection(path, method, operation) {
    const id = anchor("op", operation.operationId || method + path);
    const section = el("section", { class: "op", id });
    const title = el("h3", {}, el("span", { class: "method " + method }, method.toUpperCase()), path);
    const scopes = scopesOf(operation);
    title.append(el("span", { class: "scope" }, scopes.length ? "scope " + scopes.join("; ") : "no key"));
    section.append(title);
    if (operation.summary) section.append(el("div", {}, el("strong", {}, operation.summary)));
    if (operation.description && operation.description !== operation.summary) section.append(el("p", {}, text(operation.description)));
    const params = operation.parameters || [];
    if (params.length) {
      section.append(el("h4", {}, "Parameters"));
      const table = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")));
      for (const p of params) {
        const type = el("td", {}, el("span", { class: "type" }, typeLabel(p.schema)));
        const notes = constraints(p.schema);
        if (notes.length) type.append(el("div", {}, notes.join("; ")));
        table.append(el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? el("div", { class: "req" }, "required") : null), el("td", {}, p.in), type, el("td", {}, text(p.description))));
      }
      section.append(table);
    }
    if (operation.requestBody) {
      section.append(el("h4", {}, "Request body" + (operation.requestBody.required ? " (required)" : "")));
      if (operation.requestBody.description) section.append(el("p", {}, text(operation.requestBody.description)));
      section.append(contentBlock(operation.requestBody.content));
    }
    section.append(el("h4", {}, "Responses"));
    const table = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "description and body")));
    for (const [status, raw] of Object.entries(operation.responses || {})) {
      const response = resolveResponse(raw);
      const cell = el("td", {}, text(response.description));
      if (response.headers) cell.append(el("div", {}, "headers: ", Object.keys(response.headers).map((h) => el("code", {}, h + " ")))) ;
      if (response.content) cell.append(contentBlock(response.content));
      table.append(el("tr", {}, el("td", { class: "status-" + status[0] }, status), cell));
    }
    section.append(table);
    return section;
  }

  function render() {
    const main = document.getElementById("main");
    const nav = document.getElementById("nav");
    main.replaceChildren();
    nav.replaceChildren();
    const info = doc.info || {};
    main.append(el("h1", {}, (info.title || "API") + " " + (info.version || "")));
    main.append(el("p", {}, "OpenAPI " + doc.openapi + " — the document: ", el("a", { href: "/openapi.json" }, "/openapi.json")));
    if (info.description) main.append(el("p", {}, text(info.description)));

    nav.append(el("h2", {}, "Overview"), el("a", { href: "#security" }, "Security"), el("a", { href: "#errors" }, "Error codes"));

    main.append(el("h2", { id: "security", class: "tag" }, "Security"));
    for (const [name, scheme] of Object.entries((doc.components || {}).securitySchemes || {})) {
      main.append(el("p", {}, el("code", {}, name), ": ", scheme.type + (scheme.scheme ? " " + scheme.scheme : "") + (scheme.bearerFormat ? " (" + scheme.bearerFormat + ")" : ""), " — ", text(scheme.description)));
    }

    main.append(el("h2", { id: "errors", class: "tag" }, "Error codes"));
    main.append(el("p", {}, "Every refusal answers ", el("a", { href: "#" + anchor("schema", "ErrorEnvelope") }, "ErrorEnvelope"), " with one of these codes; the status is the code's."));
    const codes = el("table", {}, el("tr", {}, el("th", {}, "code"), el("th", {}, "status"), el("th", {}, "meaning")));
    for (const row of doc["x-error-codes"] || []) codes.append(el("tr", {}, el("td", {}, el("code", {}, row.code)), el("td", { class: "status-" + String(row.status)[0] }, row.status), el("td", {}, text(row.description))));
    main.append(codes);

    const byTag = new Map();
    for (const tag of doc.tags || []) byTag.set(tag.name, { tag, ops: [] });
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const name = (operation.tags && operation.tags[0]) || "other";
        if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
        byTag.get(name).ops.push([path, method, operation]);
      }
    }
    for (const { tag, ops } of byTag.values()) {
      if (!ops.length) continue;
      nav.append(el("h2", {}, tag.name));
      main.append(el("h2", { class: "tag", id: anchor("tag", tag.name) }, tag.name));
      if (tag.description) main.append(el("p", {}, text(tag.description)));
      for (const [path, method, operation] of ops) {
        nav.append(el("a", { href: "#" + anchor("op", operation.operationId || method + path), title: method.toUpperCase() + " " + path }, method.toUpperCase() + " " + path));
        main.append(operationSection(path, method, operation));
      }
    }

    const schemas = (doc.components || {}).schemas || {};
    nav.append(el("h2", {}, "Schemas"));
    main.append(el("h2", { class: "tag", id: "schemas" }, "Schemas"));
    for (const [name, schema] of Object.entries(schemas)) {
      nav.append(el("a", { href: "#" + anchor("schema", name) }, name));
      const section = el("section", { class: "schema-def", id: anchor("schema", name) }, el("h3", {}, name), schemaTree(schema, 0));
      const ex = example({ example: schema.example !== undefined ? schema.example : (schema.examples || [])[0] });
      if (ex) section.append(ex);
      main.append(section);
    }
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  fetch("/openapi.json", { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error("GET /openapi.json answered " + response.status);
      return response.json();
    })
    .then((json) => { doc = json; render(); })
    .catch((error) => {
      const status = document.getElementById("status");
      status.className = "error";
      status.textContent = "The document could not be loaded: " + error.message;
    });
})();
