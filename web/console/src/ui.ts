// A few DOM helpers: the console is plain TypeScript over the DOM.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

/** h makes an element: h("button", {class: "primary", onclick: f}, "Save"). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k in el && typeof (el as unknown as Record<string, unknown>)[k] !== "string" && typeof v !== "string") {
      (el as unknown as Record<string, unknown>)[k] = v;
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** replace empties el and appends children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** bytes prints a size in bytes the short way. */
export function bytes(n: number | bigint): string {
  let v = Number(n);
  for (const unit of ["B", "KiB", "MiB", "GiB"]) {
    if (v < 1024 || unit === "GiB") return unit === "B" ? `${v} B` : `${v.toFixed(1)} ${unit}`;
    v /= 1024;
  }
  return `${v}`;
}

/** A line that says what is going on: info, ok, or an error in words. */
export class StatusLine {
  readonly el = h("p", { class: "status", role: "status", "aria-live": "polite" });

  info(text: string): void {
    this.set("info", text);
  }
  ok(text: string): void {
    this.set("ok", text);
  }
  error(text: string): void {
    this.set("error", text);
  }
  clear(): void {
    this.set("", "");
  }
  private set(kind: string, text: string): void {
    this.el.className = `status ${kind}`;
    this.el.textContent = text;
  }
}

/** A progress bar with a label. */
export class Progress {
  readonly bar = h("progress", { max: 1, value: 0 });
  readonly label = h("span", { class: "progress-label" });
  readonly el = h("div", { class: "progress" }, this.bar, this.label);

  set(fraction: number, label: string): void {
    this.bar.value = fraction;
    this.label.textContent = label;
  }
}
