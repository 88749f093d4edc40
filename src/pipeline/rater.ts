/**
 * The rater's batch handler — a CDR's whole flow:
 *   decode → rate → debit and record (balances/write-path) → publish rated-cdrs,
 *   dead letters and the batch's balance events → return (the consumer commits).
 * A failure of Redis, Postgres, Kafka or the registry is never the records' fault:
 * the batch is retried with backoff, nothing is dead-lettered or committed past it.
 * Every step is idempotent, so a retry (or a redelivery after a crash) is safe.
 */
import { backoff } from "../adapters/kafka/backoff.js";
import type { Cdr } from "../core/cdr.js";
import { jsonMicros } from "../core/money.js";
import { rateCdr } from "../core/rating/rate.js";
import type { PlanBook } from "../adapters/postgres/rate-table-watcher.js";
import { dependencyLabel, DependencyError, isBug, RatestreamError, RecordRefusedError } from "../errors.js";
import { typedError } from "../adapters/errors.js";
import type { AvroRegistry } from "../adapters/registry/avro.js";
import type {
  Batch,
  BatchControls,
  BatchHandler,
  KafkaProducer,
  OutgoingMessage,
} from "../adapters/kafka/types.js";
import type { Faults } from "../balances/faults.js";
import { eventIdOf } from "../balances/event-id.js";
import type { EntryRequest } from "../balances/types.js";
import { applyEntries, type WritePathDeps } from "../balances/write-path.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { DEFAULT_PLAN } from "../adapters/postgres/rate-versions.js";
import { decodeRecord } from "./decode.js";
import {
  deadLetterMessage,
  ratedCdrMessage,
  ratingFields,
  type DeadLetterCode,
  type RatingFields,
} from "./messages.js";
import type { OutboxPublisher } from "./outbox.js";
import type { Topics } from "./topics.js";

export interface RaterDeps {
  write: WritePathDeps;
  registry: AvroRegistry;
  producer: KafkaProducer;
  outbox: OutboxPublisher;
  /** Every plan's newest version and every account's plan, in memory (SPEC §10). */
  plans: PlanBook;
  topics: Topics;
  logger: Logger;
  metrics: Metrics;
  faults: Faults;
  /** True once shutdown began: stop retrying, let the batch go uncommitted. */
  stopping: () => boolean;
  /** Accounts the rater debited lately, for the sampled reconcile. */
  touched?: Set<string>;
}

export function createBatchHandler(deps: RaterDeps): BatchHandler {
  return async (batch, controls) => {
    const stopTimer = deps.metrics.kafkaBatchSeconds.startTimer({ topic: batch.topic });
    deps.metrics.kafkaMessagesConsumed.inc({ topic: batch.topic }, batch.messages.length);
    await handleBatch(deps, batch, controls);
    const last = batch.messages.at(-1)!;
    deps.metrics.consumerLag.set(
      { topic: batch.topic, partition: String(batch.partition) },
      Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n)),
    );
    stopTimer();
  };
}

/**
 * Processes a batch until it is done. A dependency failure (or a bug) is retried with
 * backoff; a record a server refuses for its content is found by halving the batch and
 * dead-lettered, and the records around it are rated.
 */
async function handleBatch(deps: RaterDeps, batch: Batch, controls: BatchControls): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await processBatch(deps, batch);
      return;
    } catch (raw) {
      const err = typedError(raw);
      if (err instanceof RecordRefusedError) return isolateRefused(deps, batch, controls, err);
      if (err instanceof RatestreamError && !err.retryable) throw err;
      const where = {
        err,
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.messages[0]?.offset,
        attempt,
      };
      if (!(err instanceof RatestreamError)) {
        // A bug, or an error no adapter knows: never dead-letter a good record for it,
        // never retry it quietly.
        deps.metrics.bugs.inc({ where: "rater" });
        deps.logger.fatal(
          where,
          isBug(err)
            ? "bug while rating a batch; retrying with backoff until a fix is deployed"
            : "unknown error while rating a batch; retrying with backoff until it is understood",
        );
      } else {
        deps.metrics.dependencyErrors.inc({ dependency: dependencyLabel(err) });
        deps.logger.error(
          where,
          "batch failed on a dependency; retrying (nothing dead-lettered, nothing committed)",
        );
      }
      if (deps.stopping() || controls.isStale()) throw err;
      await backoff(attempt, controls);
    }
  }
}

async function isolateRefused(
  deps: RaterDeps,
  batch: Batch,
  controls: BatchControls,
  err: RecordRefusedError,
): Promise<void> {
  if (batch.messages.length > 1) {
    const half = Math.ceil(batch.messages.length / 2);
    await handleBatch(deps, { ...batch, messages: batch.messages.slice(0, half) }, controls);
    await handleBatch(deps, { ...batch, messages: batch.messages.slice(half) }, controls);
    return;
  }
  const message = batch.messages[0]!;
  deps.metrics.cdrsRejected.inc({ code: "invalid_cdr" });
  deps.logger.warn(
    { code: "invalid_cdr", reason: err.message, partition: batch.partition, offset: message.offset },
    "record refused by the ledger; dead-lettered",
  );
  await deps.producer.send(deps.topics.deadLetters, [
    deadLetterMessage(
      message,
      { topic: batch.topic, partition: batch.partition },
      "invalid_cdr",
      err.message,
    ),
  ]);
}

interface Accepted {
  index: number;
  cdr: Cdr;
  rating: RatingFields;
}

async function processBatch(deps: RaterDeps, batch: Batch): Promise<void> {
  if (!deps.plans.anyVersion()) {
    throw new DependencyError("postgres", "no rate version imported yet (ratestream rates import)");
  }
  const source = { topic: batch.topic, partition: batch.partition };
  const deadLetters: OutgoingMessage[] = [];
  const reject = (index: number, code: DeadLetterCode, reason: string, cdr?: Cdr) => {
    deadLetters.push(deadLetterMessage(batch.messages[index]!, source, code, reason));
    deps.metrics.cdrsRejected.inc({ code });
    deps.logger.warn(
      {
        code,
        reason,
        accountId: cdr?.account_id,
        cdrId: cdr?.cdr_id,
        partition: batch.partition,
        offset: batch.messages[index]!.offset,
      },
      "record dead-lettered",
    );
  };

  // Decode, then rate by each account's plan: pure, except the registry lookup for Avro
  // and, for accounts this rater has not seen yet, one query for their plans.
  const decodedRecords: Awaited<ReturnType<typeof decodeRecord>>[] = [];
  for (const message of batch.messages) decodedRecords.push(await decodeRecord(message.value, deps.registry));
  const unseen = decodedRecords.flatMap((d) =>
    d.ok && deps.plans.pricingOf(d.cdr.account_id) === undefined ? [d.cdr.account_id] : [],
  );
  if (unseen.length > 0) await deps.plans.learnAccounts(unseen);
  // Dead letters in record order, as before plans.
  const accepted: Accepted[] = [];
  for (const [index, decoded] of decodedRecords.entries()) {
    if (!decoded.ok) {
      reject(index, decoded.code, decoded.message);
      continue;
    }
    const cdr = decoded.cdr;
    const pricing = deps.plans.pricingOf(cdr.account_id);
    if (pricing === undefined) {
      reject(index, "unknown_account", `no account "${cdr.account_id}"`, cdr);
      continue;
    }
    if (pricing.table === undefined) {
      reject(index, "no_rate", `plan "${pricing.plan}" has no rate version`, cdr);
      continue;
    }
    const outcome = rateCdr(pricing.table, cdr);
    if (!outcome.ok) {
      const message =
        outcome.code === "no_rate" ? `${outcome.message} (plan "${pricing.plan}")` : outcome.message;
      reject(index, outcome.code, message, cdr);
      continue;
    }
    accepted.push({ index, cdr, rating: ratingFields(outcome) });
  }

  // Debit and record, in the order of effects.
  const requests: EntryRequest[] = accepted.map(({ cdr, rating }) => ({
    accountId: cdr.account_id,
    key: `cdr:${cdr.cdr_id}`,
    kind: "call",
    amountMicros: -BigInt(rating.charge_micros),
    cause: cdr.cdr_id,
    cdrId: cdr.cdr_id,
    rateVersion: rating.rate_version,
    details: {
      plan: rating.plan,
      billed_seconds: rating.billed_seconds,
      prefix: rating.prefix,
      rate_effective_from: rating.rate_effective_from,
    },
  }));
  const outcomes = await applyEntries(deps.write, requests);

  const rated: OutgoingMessage[] = [];
  const eventIds: string[] = [];
  outcomes.forEach((outcome, i) => {
    const { index, cdr, rating } = accepted[i]!;
    if (outcome.status === "unknown_account") {
      reject(index, "unknown_account", `no account "${cdr.account_id}"`, cdr);
    } else if (outcome.status === "refused") {
      reject(index, "invalid_cdr", "the charge would take the balance past ±(2^53 − 1) micros", cdr);
    } else if (outcome.status === "applied") {
      if (deps.touched && deps.touched.size < 10_000) deps.touched.add(cdr.account_id);
      rated.push(ratedCdrMessage(cdr, rating));
      deps.metrics.cdrsRated.inc();
      deps.metrics.callCdrs.inc({ session: outcome.applied.settledCall ? "settled" : "none" });
      deps.metrics.debitedMicros.inc(rating.charge_micros);
      for (const e of outcome.applied.events) eventIds.push(eventIdOf(e));
    } else {
      // Already recorded: publish again (at least once) as the ledger priced it, which may
      // differ from today's deck. A redelivery may also have left its events unpublished.
      rated.push(ratedCdrMessage(cdr, recordedRating(outcome.recorded) ?? rating));
      deps.metrics.cdrsDuplicate.inc();
    }
  });

  await Promise.all([
    deadLetters.length > 0 ? deps.producer.send(deps.topics.deadLetters, deadLetters) : undefined,
    rated.length > 0 ? deps.producer.send(deps.topics.ratedCdrs, rated) : undefined,
    deps.outbox.publish(eventIds),
  ]);
  deps.faults.reach("after_publish"); // the offsets are committed right after this
}

function recordedRating(
  recorded:
    { amountMicros: bigint; rateVersion: number | null; details: Record<string, unknown> | null } | undefined,
): RatingFields | undefined {
  const d = recorded?.details;
  if (!recorded || !d) return undefined;
  return {
    charge_micros: jsonMicros(-recorded.amountMicros),
    billed_seconds: Number(d.billed_seconds),
    prefix: String(d.prefix),
    plan: typeof d.plan === "string" ? d.plan : DEFAULT_PLAN,
    rate_version: recorded.rateVersion,
    rate_effective_from: String(d.rate_effective_from),
  };
}
