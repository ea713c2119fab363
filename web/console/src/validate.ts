// Client-side checks of the config center's JSON values, mirroring the Go code
// that parses them, so a form shows what the service would refuse next to the
// field before anything is saved:
//   - danmaku/ratelimit/<tier>: libs/ratelimit/policy_json.go (ParsePolicy) and
//     limiter.go (newTier);
//   - orchestrator/breaker/<name>: libs/breaker/rule_json.go (ParseRule) and
//     breaker.go (Rule.validate).
// The services stay the judges: a value these checks pass may still be refused,
// and the console shows the server's ErrorInfo then.
//
// Known differences from encoding/json: an integer field given as 1.0 or 1e2
// is accepted here (JSON.parse loses the literal's spelling; Go refuses it),
// and text after the first JSON value is refused here (Go's Decoder ignores it).

import { parseDuration } from "./duration.js";

/** FieldError says what is wrong with one field; field "" is the value as a whole. */
export interface FieldError {
  field: string;
  message: string;
}

type Kind = "float" | "int" | "string";

/** decode mirrors json.Decoder with DisallowUnknownFields into a struct of
 * the given fields: case-insensitive names, null leaves the zero value. */
function decode(text: string, fields: Record<string, Kind>, goType: string): { value: Record<string, unknown>; errors: FieldError[] } {
  const value: Record<string, unknown> = {};
  for (const [k, kind] of Object.entries(fields)) value[k] = kind === "string" ? "" : 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { value, errors: [{ field: "", message: `not JSON: ${(e as Error).message}` }] };
  }
  if (parsed === null) return { value, errors: [] };
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    const what = Array.isArray(parsed) ? "array" : typeof parsed;
    return { value, errors: [{ field: "", message: `want a JSON object, got ${what} (cannot unmarshal into ${goType})` }] };
  }
  const errors: FieldError[] = [];
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    const field = key in fields ? key : Object.keys(fields).find((f) => f.toLowerCase() === key.toLowerCase());
    if (field === undefined) {
      errors.push({ field: "", message: `unknown field ${JSON.stringify(key)}` });
      continue;
    }
    if (v === null) continue;
    const kind = fields[field]!;
    const jsType = Array.isArray(v) ? "array" : typeof v;
    if (kind === "string") {
      if (typeof v !== "string") errors.push({ field, message: `want a string, got ${jsType}` });
      else value[field] = v;
    } else if (typeof v !== "number") {
      errors.push({ field, message: `want a number, got ${jsType}` });
    } else if (kind === "int" && (!Number.isInteger(v) || Math.abs(v) >= 2 ** 63)) {
      errors.push({ field, message: `want a whole number, got ${v}` });
    } else {
      value[field] = v;
    }
  }
  return { value, errors };
}

function duration(errors: FieldError[], field: string, s: string): number | undefined {
  try {
    return parseDuration(s);
  } catch {
    errors.push({ field, message: `${JSON.stringify(s)}: want a duration such as 800ms` });
    return undefined;
  }
}

/** The tiers of danmaku's rate limits (keys danmaku/ratelimit/<tier>). */
export const tiers = ["normal", "vip", "robot"] as const;

/** The fields of a rate-limit policy, in the config center's order. */
export const policyFields = ["rate", "burst", "queue_depth", "give_up"] as const;

/** validatePolicy checks a rate-limit policy as ParsePolicy does. */
export function validatePolicy(text: string): FieldError[] {
  const { value: p, errors } = decode(text, { rate: "float", burst: "int", queue_depth: "int", give_up: "string" }, "ratelimit.policyJSON");
  if (errors.length) return errors;
  const giveUp = duration(errors, "give_up", p.give_up as string);
  if ((p.rate as number) <= 0) errors.push({ field: "rate", message: `must be positive, got ${p.rate}` });
  if ((p.queue_depth as number) < 0) errors.push({ field: "queue_depth", message: `must not be negative, got ${p.queue_depth}` });
  if (giveUp !== undefined && giveUp < 0) errors.push({ field: "give_up", message: `must not be negative, got ${p.give_up}` });
  return errors;
}

/** The breaker strategies ParseRule knows. */
export const strategies = ["slow-ratio", "error-ratio", "error-count"] as const;

/** The fields of a breaker rule, in the config center's order. */
export const ruleFields = ["strategy", "threshold", "max_rt", "min_calls", "window", "buckets", "open_for", "probes"] as const;

/** validateRule checks a breaker rule as ParseRule and Rule.validate do. */
export function validateRule(text: string): FieldError[] {
  const { value: r, errors } = decode(
    text,
    { strategy: "string", threshold: "float", max_rt: "string", min_calls: "int", window: "string", buckets: "int", open_for: "string", probes: "int" },
    "breaker.ruleJSON",
  );
  if (errors.length) return errors;
  const strategy = r.strategy as string;
  if (!(strategies as readonly string[]).includes(strategy)) {
    errors.push({ field: "strategy", message: `${JSON.stringify(strategy)}: want slow-ratio, error-ratio or error-count` });
  }
  const slow = strategy === "slow-ratio";
  let maxRT: number | undefined = 0;
  if (r.max_rt !== "" || slow) maxRT = duration(errors, "max_rt", r.max_rt as string);
  const window = duration(errors, "window", r.window as string);
  const openFor = duration(errors, "open_for", r.open_for as string);
  const threshold = r.threshold as number;
  const buckets = r.buckets as number;
  if (strategy === "error-count") {
    if (threshold < 1) errors.push({ field: "threshold", message: `an error count below 1: ${threshold}` });
  } else if (threshold <= 0 || threshold > 1) {
    errors.push({ field: "threshold", message: `a ratio outside (0, 1]: ${threshold}` });
  }
  if (slow && maxRT !== undefined && maxRT < 1e6) errors.push({ field: "max_rt", message: `slow-ratio needs at least 1ms, got ${r.max_rt}` });
  if (buckets < 1) errors.push({ field: "buckets", message: `want at least 1, got ${buckets}` });
  if (window !== undefined) {
    if (window < 1e6) errors.push({ field: "window", message: `want at least 1ms, got ${r.window}` });
    else if (buckets >= 1 && Math.trunc(window / buckets) < 1e6) {
      errors.push({ field: "buckets", message: `${r.window} in ${buckets} buckets: want buckets of at least 1ms` });
    }
  }
  if (openFor !== undefined && openFor <= 0) errors.push({ field: "open_for", message: `want more than 0, got ${r.open_for}` });
  if ((r.probes as number) < 1) errors.push({ field: "probes", message: `want at least 1, got ${r.probes}` });
  if ((r.min_calls as number) < 0) errors.push({ field: "min_calls", message: `must not be negative, got ${r.min_calls}` });
  return errors;
}
