/**
 * What the consumers of `balance-events` (recharge-worker, notify-worker) share: read
 * the topic in a consumer group, hand each event to the worker in partition order
 * (so per account), retry a dependency failure with backoff without committing, serve
 * /healthz /readyz /metrics, and stop cleanly on SIGTERM. Each worker de-duplicates by
 * event_id itself, so a redelivered batch is harmless.
 */
import { backoff } from "../adapters/kafka/backoff.js";
import { Counter, type Registry } from "prom-client";
import type { BatchControls, BatchHandler, KafkaClient } from "../adapters/kafka/types.js";
import { startOpsServer, type ReadinessCheck } from "../adapters/http/ops-server.js";
import { dependencyLabel, isBug, RatestreamError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { untilStopSignal } from "./stop-signal.js";
import { createMetrics, type Metrics } from "../observability/metrics.js";
import type { BalanceEventMessage } from "../pipeline/messages.js";
import { typedError } from "../adapters/errors.js";

export type BalanceEventHandler = (event: BalanceEventMessage, controls: BatchControls) => Promise<void>;

export interface WorkerMetrics {
  /** The shared metric set (dependency errors, events published …). */
  common: Metrics;
  handled: Counter<"type" | "outcome">;
}

export function createWorkerMetrics(registry: Registry, worker: string): WorkerMetrics {
  return {
    common: createMetrics(registry),
    handled: new Counter({
      name: "ratestream_worker_events_total",
      help: `Balance events the ${worker} handled, by type and outcome.`,
      labelNames: ["type", "outcome"],
      registers: [registry],
    }),
  };
}

/** Parses one `balance-events` record; undefined for one that is not an event. */
export function parseBalanceEvent(value: Buffer | null): BalanceEventMessage | undefined {
  if (value === null) return undefined;
  try {
    const e = JSON.parse(value.toString("utf8")) as Partial<BalanceEventMessage>;
    const ok =
      typeof e.event_id === "string" &&
      typeof e.type === "string" &&
      typeof e.account_id === "string" &&
      Number.isSafeInteger(e.balance_micros) &&
      typeof e.cause === "string" &&
      typeof e.occurred_at === "string";
    return ok ? (e as BalanceEventMessage) : undefined;
  } catch {
    return undefined;
  }
}

export interface EventBatchHandlerDeps {
  handle: BalanceEventHandler;
  logger: Logger;
  metrics: WorkerMetrics;
  stopping: () => boolean;
}

/**
 * Events one at a time, in order. A retryable failure (a server away) retries the same
 * event with backoff; any other failure is logged and counted, and the worker moves on
 * rather than stall every account behind one bad event.
 */
export function createEventBatchHandler(deps: EventBatchHandlerDeps): BatchHandler {
  return async (batch, controls) => {
    for (const message of batch.messages) {
      const event = parseBalanceEvent(message.value);
      if (!event) {
        deps.metrics.handled.inc({ type: "unknown", outcome: "malformed" });
        deps.logger.error(
          { topic: batch.topic, partition: batch.partition, offset: message.offset },
          "skipping a record that is not a balance event",
        );
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          await deps.handle(event, controls);
          break;
        } catch (raw) {
          const err = typedError(raw);
          if (err instanceof RatestreamError && !err.retryable) {
            deps.metrics.handled.inc({ type: event.type, outcome: "failed" });
            deps.logger.error({ err, event }, "event could not be handled; moving on");
            break;
          }
          if (!(err instanceof RatestreamError)) {
            // A bug, or an error no adapter knows: loud, and retried rather than skipped.
            deps.metrics.common.bugs.inc({ where: "worker" });
            deps.logger.fatal(
              { err, eventId: event.event_id, attempt },
              isBug(err)
                ? "bug while handling an event; retrying"
                : "unknown error handling an event; retrying",
            );
          } else {
            deps.metrics.common.dependencyErrors.inc({ dependency: dependencyLabel(err) });
            deps.logger.warn(
              { err, eventId: event.event_id, attempt },
              "event failed on a dependency; retrying",
            );
          }
          if (deps.stopping() || controls.isStale()) throw err;
          await backoff(attempt, controls);
        }
      }
      if (controls.isStale()) throw new Error("partition reassigned mid-batch");
    }
  };
}

export interface RunWorkerOptions {
  name: string;
  kafka: KafkaClient;
  groupId: string;
  topic: string;
  partitions: number;
  httpPort: number;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  handle: BalanceEventHandler;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Closes the worker's own connections after the consumer has left the group. */
  close: () => Promise<void>;
  shutdownGraceMs?: number;
}

/** Runs a worker until SIGTERM or SIGINT. */
export async function runBalanceEventWorker(options: RunWorkerOptions): Promise<void> {
  const { logger } = options;
  let stopping = false;
  const admin = await options.kafka.admin();
  await admin.createTopics([{ topic: options.topic, partitions: options.partitions }]);
  const consumer = await options.kafka.consumer({ groupId: options.groupId });
  await consumer.subscribe([options.topic]);
  await consumer.run(
    createEventBatchHandler({
      handle: options.handle,
      logger,
      metrics: options.metrics,
      stopping: () => stopping,
    }),
  );
  const server = await startOpsServer({
    port: options.httpPort,
    registry: options.registry,
    checks: { kafka: async () => void (await admin.listTopics()), ...options.checks },
  });
  logger.info(
    { topic: options.topic, group: options.groupId, httpPort: options.httpPort },
    `${options.name} running`,
  );

  await untilStopSignal(logger, {
    inFlight: "event",
    graceMs: options.shutdownGraceMs ?? 30_000,
    onStop: () => (stopping = true),
  });
  await consumer.disconnect();
  await admin.disconnect();
  server.close();
  await options.close();
  logger.info("stopped");
  // All closed, offsets committed. After a broker restart, kafkajs can hold a broker
  // socket past disconnect (a reconnect timer outlives it, tulios/kafkajs#1147), which
  // would keep the process up until the forced exit 1: exit now, successfully.
  process.exit(0);
}
