// Tests of the console's pure logic (hashes, durations, validation), with
// node's own test runner (tools/js's ts_test: bundled, then `node --test`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { MD5, SHA256, hex } from "./hash.js";
import { parseDuration } from "./duration.js";
import { validatePolicy, validateRule } from "./validate.js";

test("MD5 and SHA-256 match node's, fed in pieces of any size", () => {
  const data = new Uint8Array(1000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000]) {
    const d = data.subarray(0, n);
    for (const piece of [1, 3, 64, 100, 1000]) {
      const md5 = new MD5();
      const sha = new SHA256();
      for (let i = 0; i < n; i += piece) {
        md5.update(d.subarray(i, i + piece));
        sha.update(d.subarray(i, i + piece));
      }
      assert.equal(hex(md5.digest()), createHash("md5").update(d).digest("hex"), `md5 of ${n} bytes in pieces of ${piece}`);
      assert.equal(hex(sha.digest()), createHash("sha256").update(d).digest("hex"), `sha256 of ${n} bytes in pieces of ${piece}`);
    }
  }
});

test("parseDuration parses as Go's time.ParseDuration", () => {
  const ok: Array<[string, number]> = [
    ["0", 0], ["800ms", 800e6], ["1.5s", 1.5e9], ["1m30s", 90e9], ["-2h", -7200e9], ["+5us", 5e3],
    ["1µs", 1e3], [".5s", 0.5e9], ["1.s", 1e9], ["3ns", 3],
  ];
  for (const [s, ns] of ok) assert.equal(parseDuration(s), ns, s);
  for (const s of ["", "1", "s", ".s", "1x", "1.2.3s", "-", "1s2"]) assert.throws(() => parseDuration(s), s);
});

test("validatePolicy refuses what ParsePolicy refuses, naming the field", () => {
  assert.deepEqual(validatePolicy(`{"rate":5,"burst":1,"queue_depth":100,"give_up":"800ms"}`), []);
  assert.deepEqual(validatePolicy(`{"Rate":5,"give_up":"0s"}`), []); // Go matches names case-insensitively
  const fields = (text: string) => validatePolicy(text).map((e) => e.field);
  assert.deepEqual(fields(`{"rate":0,"give_up":"1s"}`), ["rate"]);
  assert.deepEqual(fields(`{"rate":1,"queue_depth":-1,"give_up":"-1s"}`), ["queue_depth", "give_up"]);
  assert.deepEqual(fields(`{"rate":1}`), ["give_up"]);
  assert.deepEqual(fields(`{"rate":1,"give_up":"soon"}`), ["give_up"]);
  assert.deepEqual(fields(`{"rate":1,"burst":1.5,"give_up":"1s"}`), ["burst"]);
  assert.deepEqual(fields(`{"rate":"1","give_up":"1s"}`), ["rate"]);
  assert.deepEqual(fields(`{"rate":1,"give_up":"1s","extra":1}`), [""]);
  assert.deepEqual(fields(`{"rate":1,`), [""]);
  assert.deepEqual(fields(`[1]`), [""]);
});

test("validateRule refuses what ParseRule refuses, naming the field", () => {
  const good = {
    strategy: "slow-ratio", threshold: 0.5, max_rt: "800ms", min_calls: 20, window: "10s", buckets: 10, open_for: "5s", probes: 3,
  };
  const fields = (patch: Record<string, unknown>) => validateRule(JSON.stringify({ ...good, ...patch })).map((e) => e.field);
  assert.deepEqual(fields({}), []);
  assert.deepEqual(fields({ strategy: "error-count", threshold: 3, max_rt: undefined }), []);
  assert.deepEqual(fields({ strategy: "error-ratio", max_rt: "" }), []);
  assert.deepEqual(fields({ strategy: "error-ratio", max_rt: "x" }), ["max_rt"]); // set, so parsed
  assert.deepEqual(fields({ strategy: "fast" }), ["strategy"]);
  assert.deepEqual(fields({ threshold: 0 }), ["threshold"]);
  assert.deepEqual(fields({ threshold: 1.5 }), ["threshold"]);
  assert.deepEqual(fields({ strategy: "error-count", threshold: 0.5 }), ["threshold"]);
  assert.deepEqual(fields({ max_rt: "" }), ["max_rt"]);
  assert.deepEqual(fields({ max_rt: "500us" }), ["max_rt"]);
  assert.deepEqual(fields({ window: "10ms", buckets: 20 }), ["buckets"]);
  assert.deepEqual(fields({ buckets: 0 }), ["buckets"]);
  assert.deepEqual(fields({ open_for: "0s" }), ["open_for"]);
  assert.deepEqual(fields({ probes: 0, min_calls: -1 }), ["probes", "min_calls"]);
});

// The table of cases: $VALIDATION_CASES (a runfiles path under $TEST_SRCDIR,
// as Bazel sets it), else web/console/testdata next to this file's source.
const casesFile = process.env.VALIDATION_CASES
  ? `${process.env.TEST_SRCDIR ?? "."}/${process.env.VALIDATION_CASES}`
  : fileURLToPath(new URL("../testdata/validation.json", import.meta.url));

test("the checks name the fields testdata/validation.json says (which Go's parsers agree are invalid)", () => {
  // The Go test web/console/validation_test.go runs the same cases through
  // ratelimit.ParsePolicy and breaker.ParseRule.
  assert.ok(existsSync(casesFile), `no ${casesFile}: set VALIDATION_CASES to web/console/testdata/validation.json`);
  const file = casesFile;
  const cases = JSON.parse(readFileSync(file, "utf8")) as Array<{ kind: string; value: string; fields: string[] }>;
  for (const c of cases) {
    const errors = (c.kind === "policy" ? validatePolicy : validateRule)(c.value);
    const got = [...new Set(errors.map((e) => e.field))].sort();
    assert.deepEqual(got, [...c.fields].sort(), `${c.kind} ${c.value}: ${JSON.stringify(errors)}`);
  }
});
