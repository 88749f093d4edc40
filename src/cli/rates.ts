import type { Command } from "commander";
import { importDeckSet } from "../adapters/postgres/rate-versions.js";
import { readDeckFiles } from "./deck-files.js";
import { withDatabase } from "./database.js";

/** `ratestream rates import`: store a complete set of decks as a new version (SPEC §3, §6). */
export function registerRatesCommands(program: Command): void {
  const rates = program.command("rates").description("rate deck versions");
  rates
    .command("import")
    .description("validate the decks and store them as a new immutable version; running raters switch to it")
    .requiredOption("--rates <csv>", "rate deck")
    .option("--surcharges <csv>", "surcharge deck")
    .option("--numbers <csv>", "number price list")
    .action(async (options: { rates: string; surcharges?: string; numbers?: string }) => {
      const set = await readDeckFiles(options);
      const result = await withDatabase((pool) => importDeckSet(pool, set));
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}
