// Status: every service's health, version and address, as the console checks
// them now (ConsoleService.Status), refreshed every few seconds.

import { Health, type Backend } from "../../gen/proto/console/v1/console_pb.js";
import { clients, session } from "./api.js";
import { describe } from "./errors.js";
import { h, replace, StatusLine } from "./ui.js";

const healthName = (b: Backend) => Health[b.health]?.toLowerCase().replace(/_/g, " ") ?? String(b.health);

export function statusPage(root: HTMLElement): () => void {
  const stop = new AbortController();
  const line = new StatusLine();
  const own = h("p", { id: "console-version" });
  const body = h("tbody");
  const table = h("table", { id: "status-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Service"), h("th", {}, "Health"), h("th", {}, "Version"), h("th", {}, "Address"), h("th", {}, "Check"), h("th", {}, "APIs"))),
    body);
  let timer = 0;

  async function refresh(): Promise<void> {
    try {
      const resp = await clients().console.status({}, { signal: stop.signal, timeoutMs: 10_000 });
      own.textContent = `Console version ${resp.version || "?"}; checked ${new Date().toLocaleTimeString()}.`;
      replace(body, ...resp.backends.map((b) => {
        const serving = b.health === Health.SERVING;
        const ms = b.latency ? (Number(b.latency.seconds) * 1e3 + b.latency.nanos / 1e6).toFixed(1) + " ms" : "";
        return h("tr", { "data-service": b.name, "data-health": healthName(b) },
          h("td", {}, b.name),
          h("td", { class: serving ? "ok" : "error" }, healthName(b), b.error ? h("div", { class: "error" }, b.error) : null),
          h("td", {}, b.version || "?"),
          h("td", {}, h("code", {}, b.address)),
          h("td", {}, ms),
          h("td", { class: "hint" }, b.apis.join(", ")));
      }));
      const bad = resp.backends.filter((b) => b.health !== Health.SERVING);
      if (bad.length) line.error(`${bad.length} of ${resp.backends.length} services not serving: ${bad.map((b) => `${b.name} (${healthName(b)})`).join(", ")}`);
      else line.ok(`All ${resp.backends.length} services serving.`);
    } catch (e) {
      if (stop.signal.aborted) return;
      line.error(describe(e) + (session()?.admin ? "" : " (the status is for admins: sign in with a token that has the admin role)"));
    }
    if (!stop.signal.aborted) timer = window.setTimeout(refresh, 5000);
  }
  line.info("Asking the console...");
  replace(root, h("h1", {}, "Status"), line.el, own, table);
  void refresh();
  return () => {
    stop.abort();
    clearTimeout(timer);
  };
}
