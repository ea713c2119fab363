// Sign in: a user name in, a token out. The console mints the token (a dev
// sign-in); the tier it carries is the console's choice, never the person's.

import { session, signIn, signOut } from "./api.js";
import { describe } from "./errors.js";
import { h, replace, StatusLine } from "./ui.js";

export function signinPage(root: HTMLElement, onChange: () => void): () => void {
  const line = new StatusLine();
  const who = h("div", { class: "card", id: "session" });
  const name = h("input", { id: "user", name: "user", required: true, autocomplete: "username", placeholder: "e.g. alice", maxlength: 64 });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const user = name.value.trim();
        if (!user) {
          line.error("Type a user name.");
          return;
        }
        submit.disabled = true;
        line.info(`Signing in as ${user}...`);
        try {
          const s = await signIn(user);
          line.ok(`Signed in as ${s.user}, tier ${s.tier}${s.admin ? ", admin" : ""}.`);
          show();
          onChange();
        } catch (e) {
          line.error(describe(e));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { for: "user" }, "User name"),
    name,
    submit,
    h("p", { class: "hint" }, "The console signs you in with a token of its own; your tier (normal, VIP, robot) comes from that token."),
  );

  function show(): void {
    const s = session();
    if (!s) {
      replace(who, h("p", {}, "Not signed in."));
      return;
    }
    replace(
      who,
      h("dl", {},
        h("dt", {}, "User"), h("dd", { id: "session-user" }, s.user),
        h("dt", {}, "Tier"), h("dd", { id: "session-tier" }, s.tier),
        h("dt", {}, "Admin"), h("dd", {}, s.admin ? "yes" : "no"),
        h("dt", {}, "Token expires"), h("dd", {}, new Date(s.expires).toLocaleString()),
      ),
      h("button", { type: "button", onclick: () => { signOut(); show(); onChange(); line.info("Signed out."); } }, "Sign out"),
    );
  }

  show();
  replace(root, h("h1", {}, "Sign in"), form, line.el, who);
  name.focus();
  return () => {};
}
