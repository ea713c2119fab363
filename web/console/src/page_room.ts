// Live room: the room's comments fly over the player as they are posted
// (Subscribe, a server stream, resumed after the last event id when it
// drops); the signed-in user posts with Post and sees what became of each
// comment: accepted, dropped or rejected, and whether it was queued first
// (over the rate limit, Post waits for a queued comment's final outcome).

import { Code, ConnectError } from "@connectrpc/connect";

import { Outcome, Tier, type CommentAck, type RoomComment } from "../../gen/proto/danmaku/v1/danmaku_pb.js";
import { GetWorkflowRequestSchema } from "../../gen/proto/orchestrator/v1/orchestrator_pb.js";
import { create } from "@bufbuild/protobuf";
import { clients, session } from "./api.js";
import { describe } from "./errors.js";
import { lastVideoKey } from "./page_publish.js";
import { Player, playlistURL } from "./player.js";
import { h, replace, StatusLine } from "./ui.js";

const lanes = 8;

export function roomPage(root: HTMLElement): () => void {
  const stop = new AbortController();
  const line = new StatusLine();
  const streamLine = new StatusLine();
  const playerLine = new StatusLine();
  const video = h("video", { id: "room-player", controls: true, playsinline: true });
  const overlay = h("div", { class: "danmaku", id: "danmaku" });
  const stage = h("div", { class: "stage" }, video, overlay);
  const player = new Player(video, (t, error) => (error ? playerLine.error(t) : playerLine.info(t)));
  const last = localStorage.getItem(lastVideoKey);
  const roomInput = h("input", { id: "room", value: last ? `video-${last}` : "", placeholder: "video-<id>", required: true });
  const text = h("input", { id: "comment", maxlength: 200, placeholder: "Say something", autocomplete: "off" });
  const send = h("button", { type: "submit", class: "primary", id: "post" }, "Post");
  const outcomes = h("ol", { class: "log", id: "outcomes", reversed: true });
  const feed = h("ol", { class: "log", id: "feed", reversed: true });
  const counts = { accepted: 0, queued: 0, dropped: 0, rejected: 0 };
  const countEl = h("p", { id: "counts" });
  let room = "";
  let lastEventId = "";
  let sub: AbortController | undefined;
  let lane = 0;

  function fly(c: RoomComment): void {
    const el = h("span", { class: `bullet tier-${Tier[c.tier]?.toLowerCase() ?? "x"}` }, c.text);
    el.style.top = `${(lane++ % lanes) * (100 / lanes)}%`;
    el.addEventListener("animationend", () => el.remove());
    overlay.appendChild(el);
    feed.prepend(h("li", { "data-comment-id": String(c.id) }, h("b", {}, c.userId), ` (${Tier[c.tier]?.toLowerCase()}): `, c.text));
    while (feed.children.length > 200) feed.lastChild?.remove();
  }

  /** subscribe follows room until stopped, resuming after the last event id. */
  async function subscribe(r: string, ctl: AbortController): Promise<void> {
    let attempt = 0;
    while (!ctl.signal.aborted) {
      try {
        streamLine.info(lastEventId ? `Reconnecting to ${r} after event ${lastEventId}...` : `Joining ${r}...`);
        for await (const m of clients().danmaku.subscribe({ roomId: r, resumeAfter: lastEventId }, { signal: ctl.signal })) {
          attempt = 0;
          if (m.message.case === "joined") {
            const j = m.message.value;
            streamLine.ok(`In ${j.roomId} as ${j.userId} (${Tier[j.tier]?.toLowerCase()}), ${j.subscribers} watching${j.gap ? "; some comments since the last one seen are gone (gap)" : ""}.`);
          } else if (m.message.case === "comment") {
            const c = m.message.value;
            if (c.eventId) lastEventId = c.eventId;
            fly(c);
          }
        }
        if (ctl.signal.aborted) return;
        streamLine.error("The room's stream ended: reconnecting.");
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof ConnectError && e.code === Code.InvalidArgument && lastEventId) {
          streamLine.error(`${describe(e)}: joining live, without resuming`);
          lastEventId = "";
        } else if (e instanceof ConnectError && (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied)) {
          streamLine.error(`${describe(e)}: sign in again`);
          return;
        } else {
          streamLine.error(`The room's stream dropped: ${describe(e)}. Reconnecting${lastEventId ? ` after event ${lastEventId}` : ""}...`);
        }
      }
      attempt++;
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  }

  async function join(ev?: Event): Promise<void> {
    ev?.preventDefault();
    const r = roomInput.value.trim();
    if (!session()) {
      line.error("Sign in first: the room knows you by your token.");
      return;
    }
    if (!r) {
      line.error("Name a room: video-<id>.");
      return;
    }
    if (r !== room) lastEventId = "";
    room = r;
    sub?.abort();
    sub = new AbortController();
    replace(overlay);
    void subscribe(r, sub);
    const m = /^video-(\d+)$/.exec(r);
    if (m) {
      try {
        const w = (await clients().orchestrator.getWorkflow(create(GetWorkflowRequestSchema, { videoId: { value: BigInt(m[1]!) } }), { signal: stop.signal })).workflow;
        const url = w && playlistURL(w);
        if (url) player.play(url);
        else playerLine.info(`Video ${m[1]} has no playlist yet.`);
      } catch (e) {
        playerLine.error(`No video to play: ${describe(e)}`);
      }
    }
  }

  function outcome(ack: CommentAck, queued: boolean, t: string): void {
    const name = Outcome[ack.outcome]?.toLowerCase() ?? String(ack.outcome);
    if (name in counts) counts[name as keyof typeof counts]++;
    if (queued) counts.queued++;
    countEl.textContent = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(" · ");
    outcomes.prepend(h("li", { class: `outcome-${name}`, "data-outcome": name },
      h("b", {}, queued ? `queued, then ${name}` : name), ` "${t}"`, ack.reason ? ` (${ack.reason})` : "", ack.commentId ? ` #${ack.commentId}` : ""));
  }

  let seq = 0;
  async function post(ev: Event): Promise<void> {
    ev.preventDefault();
    const t = text.value;
    if (!room) {
      line.error("Join a room first.");
      return;
    }
    if (!t.trim()) return;
    const clientId = `${Date.now()}-${seq++}`;
    send.disabled = true;
    try {
      const resp = await clients().danmaku.post({ roomId: room, comment: { clientId, text: t } }, { signal: stop.signal, timeoutMs: 15_000 });
      if (!resp.ack) throw new Error("Post answered no outcome");
      outcome(resp.ack, resp.queued, t);
      text.value = "";
      line.clear();
    } catch (e) {
      if (!stop.signal.aborted) line.error(`Not posted: ${describe(e)}`);
    } finally {
      send.disabled = false;
      text.focus();
    }
  }

  replace(root,
    h("h1", {}, "Live room"),
    h("form", { class: "card row", onsubmit: (ev: Event) => void join(ev) },
      h("label", { for: "room" }, "Room"), roomInput, h("button", { type: "submit", id: "join" }, "Join")),
    streamLine.el, stage, playerLine.el,
    h("form", { class: "card row", onsubmit: (ev: Event) => void post(ev) }, text, send),
    line.el, countEl,
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "Your comments"), outcomes),
      h("section", {}, h("h2", {}, "Room"), feed)));
  if (roomInput.value) void join();
  return () => {
    stop.abort();
    sub?.abort();
    player.destroy();
  };
}
