/**
 * balance_events read as the outbox: the events not yet published to Kafka, in ledger
 * order (`position`, assigned as the ledger inserts them), and their marking once Kafka
 * acknowledged them. The ledger (ledger.ts) writes them.
 */
import type pg from "pg";

/** A balance event as the ledger recorded it (balance_events, the outbox). */
export interface OutboxEventRow {
  event_id: string;
  type: string;
  account_id: string;
  balance_micros: string;
  currency: string;
  amount_micros: string | null;
  occurred_at: Date;
  cause: string;
  reason: string | null;
}

const SELECT = `select event_id, type, account_id, balance_micros, currency, amount_micros, occurred_at, cause,
                       reason
                  from balance_events`;

/** These events, those still unpublished, in ledger order. */
export async function unpublishedEvents(pool: pg.Pool, eventIds: string[]): Promise<OutboxEventRow[]> {
  const { rows } = await pool.query<OutboxEventRow>(
    `${SELECT} where event_id = any($1::text[]) and published_at is null order by position`,
    [eventIds],
  );
  return rows;
}

/** Unpublished events older than `olderThanMs` (what a crash left), oldest first. */
export async function unpublishedEventsOlderThan(
  pool: pg.Pool,
  olderThanMs: number,
  limit: number,
): Promise<OutboxEventRow[]> {
  const { rows } = await pool.query<OutboxEventRow>(
    `${SELECT} where published_at is null and occurred_at < now() - make_interval(secs => $1)
      order by position limit $2`,
    [olderThanMs / 1000, limit],
  );
  return rows;
}

export async function countUnpublishedEvents(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    "select count(*) as n from balance_events where published_at is null",
  );
  return Number(rows[0]!.n);
}

/** Kafka acknowledged these events. */
export async function markEventsPublished(pool: pg.Pool, eventIds: string[]): Promise<void> {
  await pool.query("update balance_events set published_at = now() where event_id = any($1::text[])", [
    eventIds,
  ]);
}
