// hls.js ships no types for its light build (package export "./light"): it is
// the full build's API with some features left out.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
