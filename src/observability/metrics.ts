import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from "prom-client";

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
    cdrsRated: new Counter({
      name: "ratestream_cdrs_rated_total",
      help: "CDRs rated and debited (duplicates of recorded CDRs not counted).",
      registers: [registry],
    }),
    cdrsDuplicate: new Counter({
      name: "ratestream_cdrs_duplicate_total",
      help: "CDRs whose cdr_id the ledger already held: not debited again.",
      registers: [registry],
    }),
    cdrsRejected: new Counter({
      name: "ratestream_cdrs_rejected_total",
      help: "CDRs sent to the dead-letter topic, by reason.",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    debitedMicros: new Counter({
      name: "ratestream_debited_micros_total",
      help: "Money debited for calls, in micro-units of the account currency.",
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: "ratestream_balance_events_published_total",
      help: "Balance events published to Kafka, by type (at least once).",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    accountsRestored: new Counter({
      name: "ratestream_accounts_restored_total",
      help: "Accounts put back into Redis from the ledger after Redis lost them.",
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: "ratestream_consumer_lag",
      help: "Records behind the partition's end after the last batch handled.",
      labelNames: ["topic", "partition"] as const,
      registers: [registry],
    }),
    reconcileDrift: new Gauge({
      name: "ratestream_reconcile_drift_accounts",
      help: "Accounts whose Redis balance disagreed with the ledger in the last sampled reconcile.",
      registers: [registry],
    }),
    reconcileChecked: new Counter({
      name: "ratestream_reconcile_checked_accounts_total",
      help: "Accounts checked by the rater's sampled reconcile.",
      registers: [registry],
    }),
    dependencyErrors: new Counter({
      name: "ratestream_dependency_errors_total",
      help: "Failures talking to Kafka, Redis, Postgres or the schema registry.",
      labelNames: ["dependency"] as const,
      registers: [registry],
    }),
    bugs: new Counter({
      name: "ratestream_bugs_total",
      help: "Programming errors (TypeError, RangeError …) met while handling records: retried with backoff, never dead-lettered; each one alerts.",
      labelNames: ["where"] as const,
      registers: [registry],
    }),
    strandedUndone: new Counter({
      name: "ratestream_stranded_entries_total",
      help: "Balance changes found left in Redis's pending results past the bound by a writer that failed: finished (the ledger had them) or undone (it did not).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    callSessionsOpen: new Gauge({
      name: "ratestream_call_sessions_open",
      help: "Call sessions open across all accounts, as the ledger records them, by state: active, or ended (awaiting their CDR); refreshed by the session sweep.",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    callHeldMicros: new Gauge({
      name: "ratestream_call_held_micros",
      help: "Credit held by open call sessions across all accounts, in micros, by state (active, ended); refreshed by the session sweep.",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    callGrants: new Counter({
      name: "ratestream_call_grants_total",
      help: "Answers to call session starts and renews, by result (granted, blocked, insufficient_credit, no_rate, unknown_account, conflict, not_found, unrecorded; renews prefixed renew_).",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    callExpiries: new Counter({
      name: "ratestream_call_sessions_expired_total",
      help: "Call sessions that expired (marked in the ledger by the sweep), by the state they expired in: active (neither renewed nor ended in time: the switch stopped asking) or ended (no CDR within CALL_CDR_WAIT_SECONDS: the switch stopped reporting CDRs).",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    callCdrs: new Counter({
      name: "ratestream_call_cdrs_total",
      help: "CDRs the rater debited, by whether their debit settled an open call session (settled) or found none (none: a call made without a session, or one whose session had expired).",
      labelNames: ["session"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
