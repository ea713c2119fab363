// The Monoreel console: one page, a nav, five views (#/signin, #/publish,
// #/room, #/config, #/status).

import { loadConfig, session } from "./api.js";
import { configPage } from "./page_config.js";
import { publishPage } from "./page_publish.js";
import { roomPage } from "./page_room.js";
import { signinPage } from "./page_signin.js";
import { statusPage } from "./page_status.js";
import { h, replace } from "./ui.js";

type Page = (root: HTMLElement, onChange: () => void) => () => void;

const pages: Array<{ path: string; title: string; page: Page }> = [
  { path: "signin", title: "Sign in", page: signinPage },
  { path: "publish", title: "Publish", page: publishPage },
  { path: "room", title: "Live room", page: roomPage },
  { path: "config", title: "Config", page: configPage },
  { path: "status", title: "Status", page: statusPage },
];

const nav = document.getElementById("nav")!;
const main = document.getElementById("main")!;
const who = document.getElementById("who")!;
const banner = document.getElementById("banner")!;
let unmount: () => void = () => {};

function renderNav(): void {
  const current = location.hash.replace(/^#\/?/, "") || "signin";
  replace(nav, ...pages.map((p) =>
    h("a", { href: `#/${p.path}`, id: `nav-${p.path}`, "aria-current": p.path === current ? "page" : null }, p.title)));
  const s = session();
  replace(who, s ? `${s.user} · ${s.tier}${s.admin ? " · admin" : ""}` : "signed out");
}

function route(): void {
  unmount();
  const path = location.hash.replace(/^#\/?/, "") || (session() ? "publish" : "signin");
  const p = pages.find((x) => x.path === path) ?? pages[0]!;
  renderNav();
  document.title = `${p.title} · Monoreel console`;
  main.dataset.page = p.path;
  try {
    unmount = p.page(main, renderNav);
  } catch (e) {
    replace(main, h("p", { class: "status error" }, `This page failed: ${(e as Error).message}`));
    unmount = () => {};
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (ev) => {
  banner.textContent = `Unexpected error: ${ev.reason instanceof Error ? ev.reason.message : String(ev.reason)}`;
  banner.hidden = false;
});
void loadConfig().then((warning) => {
  if (warning) {
    banner.textContent = warning;
    banner.hidden = false;
  }
  route();
});
