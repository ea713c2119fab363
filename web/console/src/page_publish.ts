// Publish: upload a local file in parts (resumable after a reload), complete
// it, publish it, follow the workflow's stages live, then play the output and
// show its tags.

import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";

import type { VideoId } from "../../gen/proto/common/v1/common_pb.js";
import { StageState, WorkflowState, type Workflow } from "../../gen/proto/orchestrator/v1/orchestrator_pb.js";
import { clients, session } from "./api.js";
import { describe, isCode } from "./errors.js";
import { Player, playlistURL } from "./player.js";
import { bytes, h, Progress, replace, StatusLine } from "./ui.js";
import { forgetPending, pending, uploadFile } from "./upload.js";

/** The last video this browser published: the live room's default. */
export const lastVideoKey = "monoreel.video";

export function publishPage(root: HTMLElement): () => void {
  const abort = new AbortController();
  const line = new StatusLine();
  const progress = new Progress();
  const log = h("ol", { class: "log", id: "upload-log" });
  const stages = h("div", { id: "stages" });
  const tags = h("div", { id: "tags" });
  const video = h("video", { id: "player", controls: true, playsinline: true });
  const playerLine = new StatusLine();
  const player = new Player(video, (text, error) => (error ? playerLine.error(text) : playerLine.info(text)));
  const file = h("input", { type: "file", id: "file", accept: "video/*" });
  const title = h("input", { id: "title", placeholder: "Title (default: the file's name)" });
  const go = h("button", { type: "submit", class: "primary", id: "publish" }, "Upload and publish");
  const resume = h("div", { id: "resume" });
  let polling = 0;

  const note = (s: string) => append(log, s);
  function append(list: HTMLElement, s: string): void {
    list.appendChild(h("li", {}, `${new Date().toLocaleTimeString()} ${s}`));
  }

  function showPending(): void {
    const p = pending();
    replace(resume, p
      ? h("p", { class: "card warn" },
          `An upload of ${p.name} (${bytes(p.size)}) was interrupted. Pick the same file again to resume it, or `,
          h("button", { type: "button", onclick: () => { forgetPending(); showPending(); } }, "forget it"), ".")
      : null);
  }

  async function run(ev: Event): Promise<void> {
    ev.preventDefault();
    const f = file.files?.[0];
    if (!session()) {
      line.error("Sign in first: uploads are yours, by your token.");
      return;
    }
    if (!f) {
      line.error("Pick a video file.");
      return;
    }
    go.disabled = true;
    player.destroy();
    replace(stages);
    replace(tags);
    try {
      line.info(`Uploading ${f.name}...`);
      const videoId = await uploadFile(f, {
        signal: abort.signal,
        onLog: note,
        onProgress: (p) => {
          const hashed = p.hashed < p.total ? `, checksum ${Math.floor((100 * p.hashed) / p.total)}%` : "";
          progress.set(p.total ? p.sent / p.total : 1,
            p.phase === "uploading"
              ? `${p.parts} of ${p.partCount} parts, ${bytes(p.sent)} of ${bytes(p.total)}${p.skipped ? ` (${p.skipped} already stored)` : ""}${hashed}${p.retries ? `, ${p.retries} retries` : ""}`
              : `${p.phase}...`);
        },
      });
      note(`upload complete: video ${videoId.value}`);
      progress.set(1, `uploaded ${bytes(f.size)}: video ${videoId.value}`);
      showPending();
      line.info(`Publishing video ${videoId.value}...`);
      const pub = await clients().orchestrator.publish({ videoId, title: title.value.trim() || f.name }, { signal: abort.signal });
      note(pub.existing ? `video ${videoId.value} was already published: following its workflow` : `workflow of video ${videoId.value} started`);
      localStorage.setItem(lastVideoKey, String(videoId.value));
      if (pub.workflow) render(pub.workflow);
      await follow(videoId);
    } catch (e) {
      if (!abort.signal.aborted) line.error(describe(e));
      showPending();
    } finally {
      go.disabled = false;
    }
  }

  /** follow polls GetWorkflow until the workflow is done or failed. */
  async function follow(videoId: VideoId): Promise<void> {
    const started = Date.now();
    for (let failures = 0; !abort.signal.aborted; ) {
      let w: Workflow | undefined;
      try {
        w = (await clients().orchestrator.getWorkflow({ videoId }, { signal: abort.signal, timeoutMs: 10_000 })).workflow;
        failures = 0;
      } catch (e) {
        if (abort.signal.aborted) return;
        if (++failures >= 10 || isCode(e, Code.PermissionDenied) || isCode(e, Code.Unauthenticated)) throw e;
        line.error(`${describe(e)}: asking again`);
      }
      if (w) {
        render(w);
        if (w.state === WorkflowState.DONE) {
          line.ok(`Video ${videoId.value} published in ${((Date.now() - started) / 1000).toFixed(1)}s.`);
          const url = playlistURL(w);
          if (url) {
            playerLine.info(`Loading ${url}...`);
            player.play(url);
          } else playerLine.error("The workflow names no master playlist: nothing to play.");
          return;
        }
        if (w.state === WorkflowState.FAILED) {
          line.error(`Publishing video ${videoId.value} failed: ${w.error || "no reason given"}`);
          return;
        }
        line.info(`Publishing video ${videoId.value}: ${w.stages.find((s) => s.state === StageState.RUNNING)?.name ?? "waiting"}...`);
      }
      await new Promise((r) => (polling = window.setTimeout(r, 500)));
    }
  }

  function render(w: Workflow): void {
    replace(stages, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Stage"), h("th", {}, "State"), h("th", {}, "Took"), h("th", {}, "Retries"), h("th", {}, "Error"))),
      h("tbody", {}, ...w.stages.map((s) => {
        const state = StageState[s.state]?.toLowerCase() ?? String(s.state);
        const took = s.took ? `${(Number(s.took.seconds) + s.took.nanos / 1e9).toFixed(2)}s`
          : s.started ? `${((Date.now() - timestampDate(s.started).getTime()) / 1000).toFixed(1)}s...` : "";
        return h("tr", { "data-stage": s.name, "data-state": state },
          h("td", {}, s.name), h("td", { class: `stage-${state}` }, state), h("td", {}, took), h("td", {}, s.retries || ""), h("td", { class: "error" }, s.error));
      }))));
    replace(tags, w.tags.length
      ? h("ul", { class: "tags" }, ...w.tags.map((t) => h("li", { title: `score ${t.score.toFixed(3)}` }, t.name, h("small", {}, ` ${t.score.toFixed(2)}`))))
      : w.state === WorkflowState.DONE ? h("p", {}, "No tags.") : null);
  }

  file.addEventListener("change", () => {
    const f = file.files?.[0];
    const p = pending();
    if (f && p) line.info(p.name === f.name && p.size === f.size ? `Will resume the upload of ${f.name}.` : `${f.name} is not the interrupted upload's file: it starts a new upload.`);
  });
  showPending();
  replace(root,
    h("h1", {}, "Publish"),
    h("form", { class: "card", onsubmit: (ev: Event) => void run(ev) },
      h("label", { for: "file" }, "Video file"), file,
      h("label", { for: "title" }, "Title"), title,
      go),
    resume, line.el, progress.el,
    h("h2", {}, "Workflow"), stages,
    h("h2", {}, "Player"), video, playerLine.el,
    h("h2", {}, "Tags"), tags,
    h("details", {}, h("summary", {}, "Log"), log));
  return () => {
    abort.abort();
    clearTimeout(polling);
    player.destroy();
  };
}
