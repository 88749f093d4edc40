/**
 * The `ratestream` command line: one sub-command per job. Exit codes (SPEC §6):
 * 0 success, 1 a check found a problem, 2 bad usage, bad input or a service that
 * cannot be reached, always with a message on stderr.
 */
import { Command, CommanderError } from "commander";
import { RatestreamError } from "../errors.js";
import { registerAccountCommands } from "./accounts.js";
import { registerApiKeyCommands } from "./apikeys.js";
import { registerBalanceCommands } from "./balances.js";
import { registerCheckCommand } from "./check.js";
import { registerCreditCommands } from "./credits.js";
import { registerDemoCommand } from "./demo.js";
import { registerDlqCommands } from "./dlq.js";
import { registerMigrateCommand } from "./migrate.js";
import { registerNotifyWorkerCommand } from "./notify-worker.js";
import { registerRateCommand } from "./rate.js";
import { registerRatesCommands } from "./rates.js";
import { registerRechargeWorkerCommand } from "./recharge-worker.js";
import { registerRerateCommand } from "./rerate.js";
import { registerRunCommand } from "./run.js";

export const EXIT = { ok: 0, problemFound: 1, usage: 2 } as const;

export function buildProgram(): Command {
  const program = new Command("ratestream")
    .description("Prepaid call rating: Kafka CDRs rated, balances debited in Redis, ledger in Postgres.")
    .showHelpAfterError()
    .exitOverride();
  registerRunCommand(program);
  registerNotifyWorkerCommand(program);
  registerRechargeWorkerCommand(program);
  registerMigrateCommand(program);
  registerRateCommand(program);
  registerRatesCommands(program);
  registerAccountCommands(program);
  registerCreditCommands(program);
  registerApiKeyCommands(program);
  registerBalanceCommands(program);
  registerDlqCommands(program);
  registerRerateCommand(program);
  registerDemoCommand(program);
  registerCheckCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version are successes; every other parse failure is bad usage.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof RatestreamError) {
      process.stderr.write(`ratestream: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`ratestream: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.usage;
  }
}

process.exitCode = await main(process.argv.slice(2));
