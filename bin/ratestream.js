#!/usr/bin/env node
// The `ratestream` command: runs the compiled CLI (npm ci builds dist/ through `prepare`).
import("../dist/cli/main.js").catch((err) => {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/main.js")) {
    console.error("ratestream: dist/ is missing; run `npm run build` (npm ci does it for you)");
    process.exit(2);
  }
  throw err;
});
