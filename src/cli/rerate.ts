import { existsSync } from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../config/env.js";
import { RatestreamError } from "../errors.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { createPool } from "../adapters/postgres/pool.js";
import { lockApply } from "../adapters/postgres/rerate.js";
import { checkPlanName, loadRateTable } from "../adapters/postgres/rate-versions.js";
import { parseTimestamp } from "../core/time.js";
import { createLogger } from "../observability/logger.js";
import { topicNames } from "../pipeline/topics.js";
import { rerate } from "../rerate/rerate.js";
import { progressPrinter, readFromFile, readFromTopic } from "../rerate/sources.js";
import { withStores } from "./context.js";
import * as parse from "./parse.js";

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function instant(value: string): number {
  const parsed = parseTimestamp(value, { allowDateOnly: true });
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  return parsed.micros;
}

function version(value: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value))
    throw new InvalidArgumentError("must be a rate version number (1, 2, …)");
  return Number(value);
}

function plan(value: string): string {
  try {
    return checkPlanName(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function runName(value: string): string {
  if (!RUN_NAME.test(value))
    throw new InvalidArgumentError("must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
  return value;
}

interface RerateCliOptions {
  from: number;
  to: number;
  account?: string;
  plan?: string;
  version?: number;
  input?: string;
  out: string;
  topicPrefix: string;
  apply?: boolean;
  run?: string;
}

export function registerRerateCommand(program: Command): void {
  program
    .command("rerate")
    .description(
      "re-rate the calls of a period with a rate version, report the changed charges and, with --apply, book one correction per account",
    )
    .requiredOption(
      "--from <time>",
      "start of the window on answered_at (YYYY-MM-DD or ISO-8601), inclusive",
      instant,
    )
    .requiredOption("--to <time>", "end of the window on answered_at, exclusive", instant)
    .option("--account <id>", "only this account's calls", parse.accountId)
    .option(
      "--plan <name>",
      "only the accounts on this plan (default: every account, by its plan's newest version)",
      plan,
    )
    .option(
      "--version <n>",
      "a version of --plan (of default without it) to re-rate with (default: the newest)",
      version,
    )
    .option("--input <cdrs.jsonl>", "read the calls from this file instead of the rated-cdrs topic")
    .option("--out <report.csv>", "the CSV report of changed calls", "rerate-report.csv")
    .option("--topic-prefix <prefix>", "as given to `ratestream run`", "")
    .option("--apply", "book the corrections (needs --run)")
    .option("--run <name>", "the run's name: the same again books nothing more", runName)
    .action(async (o: RerateCliOptions) => {
      if (o.apply && !o.run) throw new RatestreamError("bad_usage", "--apply needs --run <name>");
      if (o.run && !o.apply) throw new RatestreamError("bad_usage", "--run goes with --apply");
      if (o.from >= o.to) throw new RatestreamError("bad_usage", "--from must be before --to");
      if (o.input !== undefined && !existsSync(o.input)) {
        throw new RatestreamError("bad_usage", `--input: no file ${o.input}`);
      }
      const config = loadConfig(process.env);
      const progress = progressPrinter((line) => process.stderr.write(line));
      // The apply lock's connection of its own, held for the whole run.
      const lockPool = createPool(config.databaseUrl, { max: 1 });
      const summary = await withStores(async (ctx) => {
        const input = o.input;
        const read =
          input !== undefined
            ? (handler: Parameters<typeof readFromFile>[1]) => readFromFile(input, handler, progress)
            : async (handler: Parameters<typeof readFromFile>[1]) => {
                const kafka = await createKafkaClient({
                  brokers: config.kafkaBrokers,
                  logger: createLogger("error"),
                  clientId: "ratestream-rerate",
                });
                return readFromTopic(
                  kafka,
                  topicNames(o.topicPrefix).ratedCdrs,
                  Math.floor(o.from / 1000),
                  handler,
                  progress,
                );
              };
        return rerate(
          {
            pool: ctx.pool,
            write: ctx,
            loadTable: (p, v) => loadRateTable(ctx.pool, v, p),
            read,
            progress,
            exclusive: () => lockApply(lockPool),
          },
          {
            fromMicros: o.from,
            toMicros: o.to,
            accountId: o.account,
            plan: o.plan,
            version: o.version,
            out: o.out,
            apply: o.apply && o.run ? { run: o.run } : undefined,
          },
        );
      }).finally(() => lockPool.end());
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}
