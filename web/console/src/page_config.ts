// Config: browse the config center's keys, follow their changes live (Watch),
// and edit a breaker rule (orchestrator/breaker/<name>) or a rate-limit policy
// (danmaku/ratelimit/<tier>) in a form that says what is wrong next to the
// field: first by the checks the services make (validate.ts), then by what the
// config center answers (its ErrorInfo).

import { Code, ConnectError } from "@connectrpc/connect";

import { EventType, type Entry } from "../../gen/proto/config/v1/config_pb.js";
import { clients, session } from "./api.js";
import { describe, errorInfo } from "./errors.js";
import { h, replace, StatusLine } from "./ui.js";
import { policyFields, ruleFields, strategies, tiers, validatePolicy, validateRule, type FieldError } from "./validate.js";

const utf8 = new TextDecoder();
const enc = new TextEncoder();

interface Kind {
  name: string;
  fields: readonly string[];
  numeric: Set<string>;
  validate: (text: string) => FieldError[];
  example: Record<string, unknown>;
}

const policy: Kind = {
  name: "rate-limit policy",
  fields: policyFields,
  numeric: new Set(["rate", "burst", "queue_depth"]),
  validate: validatePolicy,
  example: { rate: 5, burst: 1, queue_depth: 100, give_up: "800ms" },
};
const rule: Kind = {
  name: "breaker rule",
  fields: ruleFields,
  numeric: new Set(["threshold", "min_calls", "buckets", "probes"]),
  validate: validateRule,
  example: { strategy: "error-ratio", threshold: 0.5, min_calls: 10, window: "10s", buckets: 10, open_for: "5s", probes: 3 },
};

function kindOf(key: string): Kind | undefined {
  if (/^danmaku\/ratelimit\/[^/]+$/.test(key)) return policy;
  if (/^orchestrator\/breaker\/[^/]+$/.test(key)) return rule;
  return undefined;
}

export function configPage(root: HTMLElement): () => void {
  const stop = new AbortController();
  const line = new StatusLine();
  const watchLine = new StatusLine();
  const prefix = h("input", { id: "prefix", placeholder: "prefix, e.g. danmaku/", value: "" });
  const body = h("tbody");
  const changes = h("ol", { class: "log", id: "changes", reversed: true });
  const editor = h("div", { id: "editor" });
  const entries = new Map<string, Entry>();
  let watch: AbortController | undefined;

  function row(e: Entry): HTMLTableRowElement {
    return h("tr", { "data-key": e.key },
      h("td", {}, h("a", { href: "#", onclick: (ev: Event) => { ev.preventDefault(); edit(e.key); } }, e.key)),
      h("td", {}, value(e.value)),
      h("td", {}, String(e.revision)));
  }
  /** value shows a value, long ones cut (the editor has them whole). */
  function value(v: Uint8Array): HTMLElement {
    const text = utf8.decode(v);
    return text.length <= 160 ? h("code", {}, text) : h("code", { title: text }, text.slice(0, 160), h("span", { class: "hint" }, ` ... (${text.length} characters)`));
  }

  function renderTable(): void {
    replace(body, ...[...entries.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map(row));
  }

  async function list(ev?: Event): Promise<void> {
    ev?.preventDefault();
    if (!session()) {
      line.error("Sign in first.");
      return;
    }
    watch?.abort();
    const ctl = (watch = new AbortController());
    const p = prefix.value;
    line.info(`Listing ${p || "every key"}...`);
    try {
      const resp = await clients().config.list({ prefix: p }, { signal: ctl.signal });
      entries.clear();
      for (const e of resp.entries) entries.set(e.key, e);
      renderTable();
      line.ok(`${resp.entries.length} keys at revision ${resp.revision}.`);
      void follow(p, resp.revision + 1n, ctl);
    } catch (e) {
      if (!ctl.signal.aborted) line.error(describe(e));
    }
  }

  /** follow watches prefix from a revision on, resuming after drops, and
   * lists again when the revision left the history (OUT_OF_RANGE). */
  async function follow(p: string, from: bigint, ctl: AbortController): Promise<void> {
    let attempt = 0;
    while (!ctl.signal.aborted) {
      try {
        watchLine.ok(`Following changes under ${p || "every key"} from revision ${from}.`);
        for await (const ch of clients().config.watch({ prefix: p, fromRevision: from }, { signal: ctl.signal })) {
          attempt = 0;
          const e = ch.entry;
          if (!e) continue;
          from = e.revision + 1n;
          const deleted = ch.type === EventType.DELETE;
          if (deleted) entries.delete(e.key);
          else entries.set(e.key, e);
          renderTable();
          changes.prepend(h("li", { "data-key": e.key },
            `r${e.revision} ${deleted ? "deleted" : "put"} ${e.key} `, deleted ? "" : value(e.value)));
          if (current === e.key && e.revision !== editing?.()) editorLine.info(`${e.key} changed (revision ${e.revision}) while you edit it: saving will be refused; reopen it.`);
        }
        if (ctl.signal.aborted) return;
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof ConnectError && e.code === Code.OutOfRange) {
          watchLine.error(`${describe(e)}: listing again`);
          void list();
          return;
        }
        watchLine.error(`The watch dropped: ${describe(e)}. Resuming from revision ${from}...`);
      }
      attempt++;
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  }

  // The editor.
  const editorLine = new StatusLine();
  let current = "";
  let editing: (() => bigint) | undefined; // the revision the open editor writes over

  function edit(key: string): void {
    current = key;
    const kind = kindOf(key);
    const entry = entries.get(key);
    const text = entry ? utf8.decode(entry.value) : kind ? JSON.stringify(kind.example) : "";
    const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
    const errs = new Map<string, HTMLElement>();
    const whole = h("p", { class: "field-error", id: "error-whole", role: "alert" });
    const raw = h("textarea", { id: "raw", rows: 4, cols: 60 }, text);
    const noCheck = h("input", { type: "checkbox", id: "nocheck" });
    let fieldsEl: HTMLElement | null = null;
    let base = entry ? entry.revision : 0n; // Put only over this revision (0: only a new key)

    if (kind) {
      let obj: Record<string, unknown> = {};
      try {
        obj = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* shown by the checks on save */
      }
      fieldsEl = h("div", { class: "fields" }, ...kind.fields.map((f) => {
        const v = obj[f];
        const input = f === "strategy"
          ? h("select", { id: `field-${f}`, name: f }, h("option", { value: "" }, "(none)"), ...strategies.map((s) => h("option", { value: s, selected: s === v }, s)))
          : h("input", { id: `field-${f}`, name: f, value: v === undefined || v === null ? "" : String(v), inputmode: kind.numeric.has(f) ? "decimal" : "text" });
        const err = h("span", { class: "field-error", id: `error-${f}`, role: "alert" });
        inputs.set(f, input);
        errs.set(f, err);
        input.addEventListener("input", sync);
        return h("div", { class: "field" }, h("label", { for: `field-${f}` }, f), input, err);
      }));
    }

    /** sync writes the form's fields into the raw JSON. */
    function sync(): void {
      const o: Record<string, unknown> = {};
      for (const [f, input] of inputs) {
        const v = input.value.trim();
        if (v === "") continue;
        o[f] = kind!.numeric.has(f) && v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
      }
      raw.value = JSON.stringify(o);
    }

    function show(errors: FieldError[]): void {
      for (const e of errs.values()) e.textContent = "";
      whole.textContent = "";
      for (const e of errors) {
        const el = errs.get(e.field);
        if (el) el.textContent = el.textContent ? `${el.textContent}; ${e.message}` : e.message;
        else whole.textContent = whole.textContent ? `${whole.textContent}; ${e.field ? e.field + ": " : ""}${e.message}` : `${e.field ? e.field + ": " : ""}${e.message}`;
      }
    }

    async function save(ev: Event): Promise<void> {
      ev.preventDefault();
      const value = raw.value;
      show([]);
      if (kind && !noCheck.checked) {
        const errors = kind.validate(value);
        if (errors.length) {
          show(errors);
          editorLine.error(`Not saved: the ${kind.name} is invalid (${errors.length} problem${errors.length > 1 ? "s" : ""}).`);
          return;
        }
      }
      editorLine.info(`Saving ${key}...`);
      try {
        const resp = await clients().config.put(
          { key, value: enc.encode(value), expectedRevision: base },
          { signal: stop.signal },
        );
        base = resp.revision;
        editorLine.ok(`Saved ${key} at revision ${resp.revision}.`);
      } catch (e) {
        const info = errorInfo(e);
        const field = info?.metadata["field"];
        const msg = e instanceof ConnectError ? e.rawMessage : String(e);
        show([{ field: field && errs.has(field) ? field : "", message: `the server refused it: ${describe(e)}` }]);
        editorLine.error(info?.reason === "REVISION_CONFLICT"
          ? `Not saved: ${key} changed since you opened it (${msg}). Reopen it.`
          : `Not saved: ${describe(e)}`);
      }
    }

    raw.addEventListener("input", () => {
      if (!kind) return;
      try {
        const o = JSON.parse(raw.value) as Record<string, unknown>;
        for (const [f, input] of inputs) input.value = o[f] === undefined || o[f] === null ? "" : String(o[f]);
      } catch {
        /* the raw text is being typed */
      }
    });

    editing = () => base;
    replace(editor,
      h("h2", {}, `Edit ${key}`, kind ? ` (${kind.name})` : ""),
      h("form", { class: "card", id: "edit-form", onsubmit: (ev: Event) => void save(ev) },
        fieldsEl,
        h("label", { for: "raw" }, "Value"), raw,
        whole,
        kind ? h("label", { class: "inline" }, noCheck, " Skip the browser's checks (let the config center judge)") : null,
        h("button", { type: "submit", class: "primary", id: "save" }, "Save"),
        h("button", { type: "button", onclick: () => { current = ""; replace(editor); } }, "Close")),
      editorLine.el);
    editorLine.clear();
  }

  const newKey = h("input", { id: "new-key", placeholder: "danmaku/ratelimit/vip or orchestrator/breaker/aitag" });
  replace(root,
    h("h1", {}, "Config"),
    h("form", { class: "card row", onsubmit: (ev: Event) => void list(ev) },
      h("label", { for: "prefix" }, "Prefix"), prefix, h("button", { type: "submit", id: "list" }, "List and follow")),
    line.el, watchLine.el,
    h("table", { id: "keys" }, h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value"), h("th", {}, "Revision"))), body),
    h("form", { class: "card row", onsubmit: (ev: Event) => { ev.preventDefault(); const k = newKey.value.trim(); if (k) edit(k); } },
      h("label", { for: "new-key" }, "Edit a key"), newKey, h("button", { type: "submit", id: "open-key" }, "Open"),
      h("span", { class: "hint" }, ` Rate limits: ${tiers.map((t) => `danmaku/ratelimit/${t}`).join(", ")}; breakers: orchestrator/breaker/{transcode,aitag,cdnpush}.`)),
    editor,
    h("h2", {}, "Changes"), changes);
  void list();
  return () => {
    stop.abort();
    watch?.abort();
  };
}
