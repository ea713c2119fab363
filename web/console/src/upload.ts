// Resumable upload of a local file in parts (UploadPart, a unary call: browsers
// cannot stream a request), resumable after a reload: the upload id and the
// file's name, size and date are kept in localStorage, and ListParts says which
// parts the server already has.

import { Code, ConnectError } from "@connectrpc/connect";

import type { VideoId } from "../../gen/proto/common/v1/common_pb.js";
import { clients, config, session } from "./api.js";
import { describe, isCode } from "./errors.js";
import { MD5, SHA256 } from "./hash.js";

const pendingKey = "monoreel.upload";

/** Pending is an upload started and not completed, as kept across reloads. */
export interface Pending {
  uploadId: string;
  user: string;
  name: string;
  size: number;
  lastModified: number;
  partSize: number;
  partCount: number;
}

export function pending(): Pending | undefined {
  try {
    const p = JSON.parse(localStorage.getItem(pendingKey) ?? "null") as Pending | null;
    return p && p.user === session()?.user ? p : undefined;
  } catch {
    return undefined;
  }
}

export function forgetPending(): void {
  localStorage.removeItem(pendingKey);
}

/** Progress is what an upload reports as it goes. */
export interface UploadProgress {
  phase: "starting" | "resuming" | "uploading" | "completing";
  sent: number; // bytes the server has
  total: number;
  hashed: number; // bytes of the whole file's SHA-256 so far
  parts: number; // parts the server has
  partCount: number;
  skipped: number; // parts already stored before this run (resumed)
  retries: number;
}

export interface UploadOptions {
  onProgress: (p: UploadProgress) => void;
  /** onLog hears about retries and resumption, in words. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  parallel?: number;
}

/** transient errors are retried: the part is sent again. */
const transient = [Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted, Code.Unknown];

/** uploadFile uploads file (resuming a pending upload of the same file) and
 * returns the new video's id once Complete has checked it. */
export async function uploadFile(file: File, opts: UploadOptions): Promise<VideoId> {
  const { upload } = clients();
  const log = opts.onLog ?? (() => {});
  const user = session()?.user ?? "";
  const prog: UploadProgress = { phase: "starting", sent: 0, total: file.size, hashed: 0, parts: 0, partCount: 0, skipped: 0, retries: 0 };
  const report = () => opts.onProgress({ ...prog });
  report();

  let p = pending();
  const stored = new Set<number>();
  if (p && p.name === file.name && p.size === file.size && p.lastModified === file.lastModified) {
    prog.phase = "resuming";
    report();
    try {
      const listed = await upload.listParts({ uploadId: p.uploadId }, { signal: opts.signal });
      for (const part of listed.parts) stored.add(part.number);
      log(`resuming upload ${p.uploadId}: the server has ${stored.size} of ${p.partCount} parts`);
    } catch (e) {
      if (!isCode(e, Code.NotFound)) throw e;
      log(`upload ${p.uploadId} is gone from the server (${describe(e)}): starting again`);
      p = undefined;
    }
  } else if (p) {
    log(`a pending upload of ${p.name} (${p.size} bytes) is dropped: ${file.name} is another file`);
    p = undefined;
  }
  if (!p) {
    // UploadPart takes at most 4 MiB a call. localStorage "monoreel.partSize"
    // overrides the console's setting (the browser test makes small parts).
    const partSize = Math.min(Number(localStorage.getItem("monoreel.partSize")) || config.part_size, 4 << 20);
    const init = await upload.init(
      { name: file.name, totalSize: BigInt(file.size), partSize: BigInt(partSize), contentType: file.type || "video/mp4" },
      { signal: opts.signal },
    );
    p = { uploadId: init.uploadId, user, name: file.name, size: file.size, lastModified: file.lastModified, partSize, partCount: init.partCount };
    localStorage.setItem(pendingKey, JSON.stringify(p));
    log(`upload ${p.uploadId} started: ${p.partCount} parts of ${partSize} bytes`);
  }
  const { uploadId, partSize, partCount } = p;
  const partBytes = (n: number) => Math.min(partSize, file.size - (n - 1) * partSize);
  prog.partCount = partCount;
  prog.skipped = prog.parts = stored.size;
  prog.sent = [...stored].reduce((sum, n) => sum + partBytes(n), 0);
  prog.phase = "uploading";
  report();

  // The whole file's SHA-256, read in order alongside the parts' uploads.
  const sha = new SHA256();
  const hashing = (async () => {
    const step = 4 << 20;
    for (let off = 0; off < file.size; off += step) {
      opts.signal?.throwIfAborted();
      sha.update(new Uint8Array(await file.slice(off, off + step).arrayBuffer()));
      prog.hashed = Math.min(file.size, off + step);
      report();
    }
    return sha.digest();
  })();

  const todo: number[] = [];
  for (let n = 1; n <= partCount; n++) if (!stored.has(n)) todo.push(n);
  const sendPart = async (n: number) => {
    const data = new Uint8Array(await file.slice((n - 1) * partSize, (n - 1) * partSize + partBytes(n)).arrayBuffer());
    const md5 = new MD5().update(data).digest();
    for (let attempt = 1; ; attempt++) {
      try {
        await upload.uploadPart({ uploadId, partNumber: n, md5, content: data }, { signal: opts.signal, timeoutMs: 60_000 });
        break;
      } catch (e) {
        const code = e instanceof ConnectError ? e.code : undefined;
        if (opts.signal?.aborted || attempt >= 5 || code === undefined || !transient.includes(code)) throw e;
        prog.retries++;
        log(`part ${n}, attempt ${attempt}: ${describe(e)}: trying again`);
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    prog.parts++;
    prog.sent += data.length;
    report();
  };
  const workers = Array.from({ length: Math.min(opts.parallel ?? 3, todo.length) }, async () => {
    for (let n = todo.shift(); n !== undefined; n = todo.shift()) await sendPart(n);
  });
  await Promise.all(workers);
  const sha256 = await hashing;

  prog.phase = "completing";
  report();
  const done = await upload.complete({ uploadId, sha256 }, { signal: opts.signal });
  forgetPending();
  if (!done.videoId) throw new Error(`Complete of upload ${uploadId} answered no video id`);
  return done.videoId;
}
