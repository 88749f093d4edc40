import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import type { Command } from "commander";
import { RatestreamError } from "../errors.js";
import { parseDeckSet } from "../core/decks/deck-set.js";
import { buildRateTable } from "../core/rating/rate-table.js";
import { rateStream } from "../offline/rate-stream.js";
import { readDeckFiles } from "./deck-files.js";

/** `ratestream rate`: rate CDRs offline against deck files (SPEC §3). */
export function registerRateCommand(program: Command): void {
  program
    .command("rate")
    .description("rate CDRs (JSON lines) against deck files; one JSON result line per input line, in order")
    .requiredOption("--rates <csv>", "rate deck")
    .option("--surcharges <csv>", "surcharge deck (without it, any CDR with surcharges is no_rate)")
    .option("--input <jsonl>", "CDRs, one JSON object per line (default: standard input)")
    .option("--summary", "print counts of rated lines and errors on stderr at the end")
    .action(async (options: { rates: string; surcharges?: string; input?: string; summary?: boolean }) => {
      const decks = await readDeckFiles({ rates: options.rates, surcharges: options.surcharges });
      const table = buildRateTable(parseDeckSet(decks));
      if (options.input !== undefined) {
        await access(options.input).catch((err: Error) => {
          throw new RatestreamError("bad_usage", `cannot read input ${options.input}: ${err.message}`);
        });
      }
      const input = options.input === undefined ? process.stdin : createReadStream(options.input);
      const summary = await rateStream(table, input, process.stdout);
      if (options.summary) process.stderr.write(`${JSON.stringify(summary)}\n`);
    });
}
