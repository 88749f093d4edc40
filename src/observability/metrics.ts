import { Counter, Histogram, collectDefaultMetrics, type Registry } from "prom-client";

/**
 * The process's metrics, registered on a registry the caller owns (tests make one
 * each, so nothing leaks between them through a global).
 */
export function createMetrics(registry: Registry, options: { defaultMetrics?: boolean } = {}) {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "ratestream_" });
  return {
    kafkaMessagesConsumed: new Counter({
      name: "ratestream_kafka_messages_consumed_total",
      help: "Kafka records handed to a batch handler, by topic.",
      labelNames: ["topic"] as const,
      registers: [registry],
    }),
    kafkaBatchSeconds: new Histogram({
      name: "ratestream_kafka_batch_duration_seconds",
      help: "Time from a batch's arrival to its offsets being committed.",
      labelNames: ["topic"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    dependencyErrors: new Counter({
      name: "ratestream_dependency_errors_total",
      help: "Failures talking to Kafka, Redis, Postgres or the schema registry.",
      labelNames: ["dependency"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
