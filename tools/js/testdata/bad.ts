// A planted type error: ts_check must fail on this file (//tools/js:ts_check_fails_test).
import { formatCount } from "../../../web/lib/format.js";

export const label: string = formatCount("12");
export const n: number = undefined;
