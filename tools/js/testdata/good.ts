// The same imports, well typed: ts_check passes (//tools/js:ts_check_good).
import { formatCount } from "../../../web/lib/format.js";

export const label: string = formatCount(12);
