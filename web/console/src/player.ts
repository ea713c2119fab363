// HLS playback: hls.js where Media Source Extensions exist, the browser's own
// HLS otherwise (Safari).

// The light build (no subtitles, alternate audio, DRM, CMCD): about 70 KB gzip less.
import Hls from "hls.js/light";

import type { Workflow } from "../../gen/proto/orchestrator/v1/orchestrator_pb.js";
import { config } from "./api.js";

/** playlistURL is the URL of a published video's master playlist: the
 * outputs are served (by the edge) at media_base + their key, the key being
 * the path under the transcode output root, e.g. "<video>/<job>/master.m3u8". */
export function playlistURL(w: Workflow): string | undefined {
  let key = w.warmedKeys.find((k) => k.endsWith("master.m3u8"));
  if (!key && w.masterPlaylist && w.videoId) {
    // master_playlist is a path on the transcoder's disk; its key starts at the video id.
    const at = w.masterPlaylist.indexOf(`/${w.videoId.value}/`);
    if (at >= 0) key = w.masterPlaylist.slice(at + 1);
  }
  if (!key) return undefined;
  const base = new URL(config.media_base, location.href);
  return new URL(key.replace(/^\/+/, ""), base.href.endsWith("/") ? base : base.href + "/").href;
}

/** Player plays one HLS URL in a video element until destroyed. */
export class Player {
  private hls?: Hls;

  constructor(
    readonly video: HTMLVideoElement,
    private readonly onStatus: (text: string, error: boolean) => void,
  ) {}

  play(url: string): void {
    this.destroy();
    this.video.muted = true; // autoplay is allowed muted
    this.video.addEventListener("playing", () => this.onStatus(`Playing ${url}`, false), { once: true });
    if (Hls.isSupported()) {
      const hls = new Hls();
      this.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        this.onStatus(`Playlist loaded: ${data.levels.map((l) => `${l.height}p`).join(", ")}`, false);
        void this.video.play().catch((e: Error) => this.onStatus(`The browser did not start playback: ${e.message}`, true));
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        const what = `${data.type} ${data.details}${data.response ? ` (HTTP ${data.response.code})` : ""}${data.url ? ` ${data.url}` : ""}`;
        if (data.fatal) this.onStatus(`Playback failed: ${what}`, true);
      });
      hls.loadSource(url);
      hls.attachMedia(this.video);
    } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
      this.video.src = url;
      void this.video.play().catch((e: Error) => this.onStatus(`The browser did not start playback: ${e.message}`, true));
    } else {
      this.onStatus("This browser plays no HLS (no Media Source Extensions).", true);
    }
  }

  destroy(): void {
    this.hls?.destroy();
    this.hls = undefined;
  }
}
