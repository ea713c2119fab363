// Errors in words: a failed call says what the server said (its code, its
// message, and the ErrorInfo every Monoreel service attaches: reason, domain,
// metadata), never just "failed".

import { Code, ConnectError } from "@connectrpc/connect";

import { ErrorInfoSchema, type ErrorInfo } from "../../gen/proto/common/v1/common_pb.js";

/** errorInfo returns the Monoreel ErrorInfo of a failed call, if it has one. */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  return err.findDetails(ErrorInfoSchema)[0];
}

/** describe says what went wrong, for a person. */
export function describe(err: unknown): string {
  if (err instanceof ConnectError) {
    const info = errorInfo(err);
    let s = `${Code[err.code] ?? err.code}: ${err.rawMessage || "(no message)"}`;
    if (info) {
      s += ` [${info.domain ? info.domain + " " : ""}${info.reason}`;
      const meta = Object.entries(info.metadata);
      if (meta.length) s += ` ${meta.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      if (info.retryAfter) s += `; retry after ${Number(info.retryAfter.seconds) + info.retryAfter.nanos / 1e9}s`;
      s += "]";
    }
    return s;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** isCode says whether err is a ConnectError with the given code. */
export function isCode(err: unknown, code: Code): boolean {
  return err instanceof ConnectError && err.code === code;
}
