import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../config/env.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { parseTimestamp } from "../core/time.js";
import { createLogger } from "../observability/logger.js";
import { topicNames } from "../pipeline/topics.js";
import { replayDeadLetters } from "../pipeline/replay.js";
import { DEAD_LETTER_CODES } from "../pipeline/messages.js";

export function registerDlqCommands(program: Command): void {
  const dlq = program.command("dlq").description("the dead-letter topic");
  dlq
    .command("replay")
    .description(
      "send dead-lettered CDRs back to cdrs once the deck or account is fixed (each is charged once)",
    )
    .option(
      "--code <code>",
      "only this reason (default: no_rate and unknown_account, the completed calls)",
      (v) => {
        if (!(DEAD_LETTER_CODES as readonly string[]).includes(v)) {
          throw new InvalidArgumentError(`must be one of ${DEAD_LETTER_CODES.join(", ")}`);
        }
        return v;
      },
    )
    .option("--since <time>", "only records dead-lettered at or after this ISO-8601 time or date", (v) => {
      const parsed = parseTimestamp(v, { allowDateOnly: true });
      if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
      return Math.floor(parsed.micros / 1000);
    })
    .option("--topic-prefix <prefix>", "as given to `ratestream run`", "")
    .action(async (o: { code?: string; since?: number; topicPrefix: string }) => {
      const config = loadConfig(process.env);
      const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger: createLogger("error") });
      const summary = await replayDeadLetters(kafka, topicNames(o.topicPrefix), {
        codes: o.code ? [o.code] : ["no_rate", "unknown_account"],
        sinceMs: o.since,
      });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}
