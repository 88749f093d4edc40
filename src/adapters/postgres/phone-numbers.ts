/** Phone numbers bought from credits (SPEC §1.12); bought in the ledger's transaction (ledger.ts). */
import type pg from "pg";

/** The account that owns a number, if any. */
export async function numberOwner(pool: pg.Pool, number: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ account_id: string }>(
    "select account_id from phone_numbers where number = $1",
    [number],
  );
  return rows[0]?.account_id;
}

/** A number whose renewal for a month is not in the ledger yet, with its owner's plan. */
export interface NumberDue {
  number: string;
  account_id: string;
  number_type: string;
  monthly_price_micros: string;
  plan: string;
}

/**
 * Numbers bought before `monthStart` and not renewed for `month` (no ledger entry with
 * the renewal's key), in number order after `after`: one page of at most `limit`.
 */
export async function numbersDueForRenewal(
  pool: pg.Pool,
  month: string,
  monthStart: Date,
  after: string,
  limit: number,
): Promise<NumberDue[]> {
  const { rows } = await pool.query<NumberDue>(
    `select n.number, n.account_id, n.number_type, n.monthly_price_micros, a.plan
       from phone_numbers n join accounts a using (account_id)
      where n.purchased_at < $1 and n.number > $3
        and not exists (select 1 from ledger_entries l where l.account_id = n.account_id
                          and l.idempotency_key = 'number_renewal:' || n.number || ':' || $2)
      order by n.number limit $4`,
    [monthStart, month, after, limit],
  );
  return rows;
}
