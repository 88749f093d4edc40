/**
 * Monthly renewal of purchased numbers from credits (SPEC §1.1, §1.12). A number bought
 * in one calendar month (UTC) is renewed in each later month at the monthly price it
 * was bought at; the ledger key `number_renewal:<number>:<YYYY-MM>` makes each month's
 * renewal happen once, whoever runs it and however often. A renewal is charged even if
 * it blocks the account: its crossings fire like any other debit's.
 */
import type pg from "pg";
import { eventIdOf } from "../balances/event-id.js";
import { utcMonth, type EntryRequest } from "../balances/types.js";
import { applyEntries, type WritePathDeps } from "../balances/write-path.js";

export interface RenewalDeps {
  pool: pg.Pool;
  write: WritePathDeps;
  publish: (eventIds: string[]) => Promise<void>;
}

const BATCH = 500;

/** Renews every number due in the month of `now`; returns how many it renewed. */
export async function renewDueNumbers(deps: RenewalDeps, now = new Date()): Promise<number> {
  const month = utcMonth(now);
  const monthStart = new Date(`${month}-01T00:00:00Z`);
  let renewed = 0;
  for (let after = ""; ;) {
    const { rows } = await deps.pool.query<{
      number: string;
      account_id: string;
      number_type: string;
      monthly_price_micros: string;
    }>(
      `select n.number, n.account_id, n.number_type, n.monthly_price_micros
         from phone_numbers n
        where n.purchased_at < $1 and n.number > $3
          and not exists (select 1 from ledger_entries l where l.account_id = n.account_id
                            and l.idempotency_key = 'number_renewal:' || n.number || ':' || $2)
        order by n.number limit $4`,
      [monthStart, month, after, BATCH],
    );
    if (rows.length === 0) return renewed;
    after = rows.at(-1)!.number;
    const requests: EntryRequest[] = rows.map((n) => ({
      accountId: n.account_id,
      key: `number_renewal:${n.number}:${month}`,
      kind: "number_renewal",
      amountMicros: -BigInt(n.monthly_price_micros),
      cause: `${n.number}:${month}`,
      reference: n.number,
      details: { number: n.number, number_type: n.number_type, month },
    }));
    const outcomes = await applyEntries(deps.write, requests, now);
    const eventIds: string[] = [];
    for (const outcome of outcomes) {
      if (outcome.status !== "applied") continue;
      renewed++;
      for (const e of outcome.applied.events) eventIds.push(eventIdOf(e));
    }
    await deps.publish(eventIds);
  }
}
