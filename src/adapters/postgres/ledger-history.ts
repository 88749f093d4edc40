/** An account's ledger entries as the API lists them, newest first. */
import type pg from "pg";

export interface LedgerEntryRow {
  seq: string;
  idempotency_key: string;
  kind: string;
  amount_micros: string;
  balance_after_micros: string;
  currency: string;
  cdr_id: string | null;
  reference: string | null;
  rate_version: string | null;
  details: Record<string, unknown> | null;
  created_at: Date;
}

/** Up to `limit` entries of the account, newest first, below seq `before` (null: from the newest). */
export async function ledgerPage(
  pool: pg.Pool,
  accountId: string,
  before: string | null,
  limit: number,
): Promise<LedgerEntryRow[]> {
  const { rows } = await pool.query<LedgerEntryRow>(
    `select seq, idempotency_key, kind, amount_micros, balance_after_micros, currency, cdr_id, reference,
            rate_version, entry_details(details, plan, billed_seconds, prefix, rate_effective_from) as details,
            created_at
       from ledger_entries where account_id = $1 and ($2::bigint is null or seq < $2)
      order by seq desc limit $3`,
    [accountId, before, limit],
  );
  return rows;
}
