// Go's time.ParseDuration, in nanoseconds: the config center's durations
// ("800ms", "1m30s", "-2h") are parsed by Go, so the console parses them the
// same way to say before saving what the service would refuse.

const units: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3, // U+00B5
  "μs": 1e3, // U+03BC
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** parseDuration returns the duration in nanoseconds, or throws an Error
 * worded like Go's ("time: invalid duration \"x\""). */
export function parseDuration(s: string): number {
  const orig = s;
  const invalid = () => new Error(`time: invalid duration ${JSON.stringify(orig)}`);
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  while (s !== "") {
    const m = /^([0-9]*)(\.([0-9]*))?/.exec(s)!;
    const whole = m[1];
    const frac = m[3] ?? "";
    if (whole === "" && frac === "") throw invalid(); // no digits, e.g. ".s"
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === "") throw new Error(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const scale = units[u];
    if (scale === undefined) {
      throw new Error(`time: unknown unit ${JSON.stringify(u)} in duration ${JSON.stringify(orig)}`);
    }
    s = s.slice(u.length);
    total += Number(whole || "0") * scale + (frac === "" ? 0 : Number("0." + frac) * scale);
    if (total > 9223372036854775807) throw invalid(); // overflows Go's int64
  }
  return neg ? -total : total;
}

/** formatDuration prints nanoseconds the short way ("1.5s", "800ms"). */
export function formatDuration(ns: number): string {
  if (ns === 0) return "0s";
  const abs = Math.abs(ns);
  const sign = ns < 0 ? "-" : "";
  if (abs < 1e3) return `${sign}${abs}ns`;
  if (abs < 1e6) return `${sign}${trim(abs / 1e3)}µs`;
  if (abs < 1e9) return `${sign}${trim(abs / 1e6)}ms`;
  if (abs < 60e9) return `${sign}${trim(abs / 1e9)}s`;
  const h = Math.floor(abs / 3600e9);
  const m = Math.floor((abs % 3600e9) / 60e9);
  const sec = (abs % 60e9) / 1e9;
  return `${sign}${h ? `${h}h` : ""}${m}m${trim(sec)}s`;
}

function trim(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
