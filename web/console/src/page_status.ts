// Status: every service's health, version and address, from the console's
// status endpoint, refreshed every few seconds.

import { status, type ServiceStatus } from "./api.js";
import { describe } from "./errors.js";
import { h, replace, StatusLine } from "./ui.js";

const known = new Set(["name", "address", "addr", "version", "health", "status", "error"]);

export function statusPage(root: HTMLElement): () => void {
  const line = new StatusLine();
  const body = h("tbody");
  const table = h("table", { id: "status-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Service"), h("th", {}, "Health"), h("th", {}, "Version"), h("th", {}, "Address"), h("th", {}, "More"))),
    body);
  let timer = 0;
  let stopped = false;

  const health = (s: ServiceStatus): string => String(s.health ?? s.status ?? (s.error ? "ERROR" : "UNKNOWN"));
  async function refresh(): Promise<void> {
    try {
      const list = await status();
      if (stopped) return;
      replace(body, ...list.map((s) => {
        const hl = health(s);
        const extra = Object.entries(s).filter(([k]) => !known.has(k)).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
        return h("tr", { "data-service": s.name },
          h("td", {}, s.name),
          h("td", { class: /^(SERVING|ok|healthy|up)$/i.test(hl) ? "ok" : "error" }, hl, s.error ? h("div", { class: "error" }, s.error) : null),
          h("td", {}, s.version ?? "?"),
          h("td", {}, h("code", {}, String(s.address ?? s.addr ?? "?"))),
          h("td", {}, extra.join("; ")));
      }));
      const bad = list.filter((s) => !/^(SERVING|ok|healthy|up)$/i.test(health(s)));
      if (bad.length) line.error(`${bad.length} of ${list.length} services not serving: ${bad.map((s) => s.name).join(", ")}`);
      else line.ok(`${list.length} services serving, as of ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      if (!stopped) line.error(describe(e));
    }
    if (!stopped) timer = window.setTimeout(refresh, 5000);
  }
  line.info("Asking the console...");
  replace(root, h("h1", {}, "Status"), line.el, table);
  void refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
