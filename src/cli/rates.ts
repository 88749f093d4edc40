import type { Command } from "commander";
import { DEFAULT_PLAN, importDeckSet, listPlans } from "../adapters/postgres/rate-versions.js";
import { planName } from "./parse.js";
import { readDeckFiles } from "./deck-files.js";
import { withDatabase } from "./database.js";

/** `ratestream rates import` and `rates list`: rate plans and their deck versions (SPEC §3, §6, §10). */
export function registerRatesCommands(program: Command): void {
  const rates = program.command("rates").description("rate plans and their deck versions");
  rates
    .command("import")
    .description(
      "validate the decks and store them as a new immutable version of a plan; running raters switch to it",
    )
    .option(
      "--plan <name>",
      "the plan (1-32 of a-z 0-9 _ -); a new name creates the plan",
      planName,
      DEFAULT_PLAN,
    )
    .requiredOption("--rates <csv>", "rate deck")
    .option("--surcharges <csv>", "surcharge deck")
    .option("--numbers <csv>", "number price list")
    .action(async (options: { plan: string; rates: string; surcharges?: string; numbers?: string }) => {
      const set = await readDeckFiles(options);
      const result = await withDatabase((pool) => importDeckSet(pool, set, options.plan));
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
  rates
    .command("list")
    .description("every plan with its newest version, row counts, import time and number of accounts")
    .action(async () => {
      const plans = await withDatabase((pool) => listPlans(pool));
      for (const plan of plans) process.stdout.write(`${JSON.stringify(plan)}\n`);
    });
}
