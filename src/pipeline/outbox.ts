/**
 * Publishes balance events from the outbox table: right after a batch records them,
 * and from a periodic sweep for any left unpublished by a crash. At least once:
 * an event is marked published only after Kafka acknowledged it. In ledger order:
 * `position` is assigned as the ledger inserts them, and one send keeps an account's
 * events in order on its partition.
 */
import type pg from "pg";
import type { KafkaProducer } from "../adapters/kafka/types.js";
import {
  countUnpublishedEvents,
  markEventsPublished,
  unpublishedEvents,
  unpublishedEventsOlderThan,
  type OutboxEventRow,
} from "../adapters/postgres/balance-events.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { jsonMicros } from "../core/money.js";
import { balanceEventMessage, type BalanceEventMessage } from "./messages.js";

export class OutboxPublisher {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly producer: KafkaProducer,
    private readonly topic: string,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Publishes these events if they are still unpublished. */
  async publish(eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    await this.send(await unpublishedEvents(this.pool, eventIds));
  }

  /** Publishes what a crash left behind: unpublished events older than `olderThanMs`. */
  async sweep(olderThanMs = 5_000, limit = 1_000): Promise<number> {
    const rows = await unpublishedEventsOlderThan(this.pool, olderThanMs, limit);
    await this.send(rows);
    return rows.length;
  }

  async backlog(): Promise<number> {
    return countUnpublishedEvents(this.pool);
  }

  start(intervalMs = 2_000): void {
    this.timer = setInterval(() => {
      this.sweeping = this.sweeping
        .then(() => this.sweep())
        .then((n) => {
          if (n > 0) this.logger.info({ events: n }, "published events left unpublished by an earlier run");
        })
        .catch((err: unknown) => this.logger.warn({ err }, "outbox sweep failed; will retry"));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  private async send(rows: OutboxEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    const events: BalanceEventMessage[] = rows.map((r) => ({
      event_id: r.event_id,
      type: r.type,
      account_id: r.account_id,
      balance_micros: jsonMicros(BigInt(r.balance_micros)),
      currency: r.currency,
      amount_micros: r.amount_micros === null ? null : jsonMicros(BigInt(r.amount_micros)),
      occurred_at: r.occurred_at.toISOString().slice(0, 19) + "Z",
      cause: r.cause,
      ...(r.reason === null ? {} : { reason: r.reason }),
    }));
    await this.producer.send(this.topic, events.map(balanceEventMessage));
    await markEventsPublished(
      this.pool,
      events.map((e) => e.event_id),
    );
    for (const e of events) this.metrics.eventsPublished.inc({ type: e.type });
  }
}
