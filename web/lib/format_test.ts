import assert from "node:assert/strict";
import { test } from "node:test";

import { formatCount, formatDuration } from "./format.js";

test("formatDuration", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(4_999), "0:04");
  assert.equal(formatDuration(61_000), "1:01");
  assert.equal(formatDuration(3_600_000 + 5_000), "1:00:05");
  assert.throws(() => formatDuration(-1), RangeError);
});

test("formatCount", () => {
  assert.equal(formatCount(999), "999");
  assert.equal(formatCount(1_234), "1.2K");
  assert.equal(formatCount(123_456), "123K");
  assert.equal(formatCount(3_400_000), "3.4M");
});
