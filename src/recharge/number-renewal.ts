/**
 * Monthly renewal of purchased numbers from credits (SPEC §1.1, §1.12). A number bought
 * in one calendar month (UTC) is renewed in each later month at the monthly price of the
 * newest version of the account's plan in force then (SPEC §10); when that plan prices no
 * such number (or has no version), at the price it was bought at. The ledger key
 * `number_renewal:<number>:<YYYY-MM>` makes each month's renewal happen once, whoever
 * runs it and however often. A renewal is charged even if it blocks the account: its
 * crossings fire like any other debit's.
 */
import type pg from "pg";
import { numbersDueForRenewal } from "../adapters/postgres/phone-numbers.js";
import { loadRateTable } from "../adapters/postgres/rate-versions.js";
import { numberPriceInForce, type RateTable } from "../core/rating/rate-table.js";
import type { NumberType } from "../core/decks/number-deck.js";
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
  // Each plan's newest version, read once per run: renewals are priced when processed.
  const tables = new Map<string, RateTable | undefined>();
  const tableOf = async (plan: string) => {
    if (!tables.has(plan)) tables.set(plan, await loadRateTable(deps.pool, undefined, plan));
    return tables.get(plan);
  };
  for (let after = ""; ;) {
    const rows = await numbersDueForRenewal(deps.pool, month, monthStart, after, BATCH);
    if (rows.length === 0) return renewed;
    after = rows.at(-1)!.number;
    const requests: EntryRequest[] = [];
    for (const n of rows) {
      const table = await tableOf(n.plan);
      const price =
        table && numberPriceInForce(table, n.number, n.number_type as NumberType, now.getTime() * 1000);
      requests.push({
        accountId: n.account_id,
        key: `number_renewal:${n.number}:${month}`,
        kind: "number_renewal",
        amountMicros: -(price ? BigInt(price.monthlyPriceMicros) : BigInt(n.monthly_price_micros)),
        cause: `${n.number}:${month}`,
        reference: n.number,
        rateVersion: price ? table.version : null,
        details: { number: n.number, number_type: n.number_type, month, plan: n.plan },
      });
    }
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
