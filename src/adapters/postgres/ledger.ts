/**
 * Ledger on Postgres: the durable record. Entries, the events they cause and the
 * invoices of offline reloads go in one transaction, each a single multi-row insert
 * over unnest()ed arrays; (account_id, idempotency_key) makes recording idempotent.
 * If any entry turns out to be recorded already (a twin writer got there first), the
 * whole transaction is rolled back: none of a duplicate's effects are recorded. Nor is
 * anything recorded unless each entry follows the ledger's entry before it (seq − 1,
 * ending at the balance the entry starts from): an entry Redis applied on top of a
 * twin's doubled entries, which the ledger will never hold, is not recorded either.
 */
import type pg from "pg";
import { eventIdOf, invoiceId } from "../../balances/event-id.js";
import { recordedKey, type Ledger, type RecordedEntry, type RecordResult } from "../../balances/ports.js";
import { RecordRefusedError, SequenceConflictError } from "../../errors.js";
import { formatInstant } from "../../core/time.js";
import { postgresError } from "./errors.js";
import { inTransaction, rollBack } from "./transaction.js";
import type { AccountSnapshot, Applied, BalanceEventDraft } from "../../balances/types.js";
import { openCallSessions } from "./call-sessions.js";

// Named, so each connection parses and plans it once. The join to accounts gives the
// currency and writes entries only for accounts that exist (migration 010: accounts are
// never deleted, so that is what the foreign key it replaced guaranteed).
//
// Every lookup of a batch's rows is a LATERAL ... LIMIT 1 (at most one row matches: a
// primary or unique key), which Postgres can only run as one index probe per row. As
// plain joins, a batch of thousands of rows made the planner hash the whole table
// instead: a scan of every account, and of the whole ledger for the chain check, on
// every batch, so each CDR cost more as the ledger grew (BENCHMARKS.md, 2026-11-30).
const ACCOUNT_CURRENCY =
  "cross join lateral (select currency from accounts a where a.account_id = v.account_id limit 1) a";

export const INSERT_ENTRIES = {
  name: "ledger-insert-entries",
  text: `
  insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
    currency, rate_version, cdr_id, reference, details, plan, billed_seconds, prefix, rate_effective_from,
    created_at)
  select v.account_id, v.seq, v.key, v.kind, v.amount, v.after, a.currency, v.rate_version, v.cdr_id,
    v.reference, v.details::jsonb, v.plan, v.billed_seconds, v.prefix, v.rate_effective_from, $15
  from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::integer[], $13::text[], $14::timestamptz[])
    as v(account_id, seq, key, kind, amount, after, rate_version, cdr_id, reference, details, plan,
    billed_seconds, prefix, rate_effective_from)
  ${ACCOUNT_CURRENCY}
  order by v.account_id, v.seq
  on conflict (account_id, idempotency_key) do nothing
  returning account_id, idempotency_key`,
};

// The entries of these (account, key) pairs, as recorded: the write path's dedupe read.
export const RECORDED = {
  name: "ledger-recorded",
  text: `select l.account_id, l.idempotency_key, l.seq, l.amount_micros, l.balance_after_micros, l.rate_version,
                entry_details(l.details, l.plan, l.billed_seconds, l.prefix, l.rate_effective_from) as details
           from unnest($1::text[], $2::text[]) as r(account_id, key)
           cross join lateral (
             select * from ledger_entries l
              where l.account_id = r.account_id and l.idempotency_key = r.key limit 1) l`,
};

// The accounts of entries that do not follow the ledger's entry before them: no entry
// seq − 1 (missing), or one that ends at another balance than the entry starts from.
export const UNCHAINED = {
  name: "ledger-unchained",
  text: `
  select v.account_id, p.seq is null as missing
  from unnest($1::text[], $2::bigint[], $3::bigint[]) as v(account_id, seq, before)
  left join lateral (
    select seq, balance_after_micros from ledger_entries p
     where p.account_id = v.account_id and p.seq = v.seq - 1 limit 1) p on true
  where p.balance_after_micros is distinct from v.before`,
};

// Inserted in the order given (ledger order), so each event's position follows it.

export const INSERT_EVENTS = `
  insert into balance_events (event_id, account_id, type, balance_micros, amount_micros, currency, cause,
    reason, occurred_at)
  select v.event_id, v.account_id, v.type, v.balance, v.amount, a.currency, v.cause, v.reason, $8
  from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
    with ordinality as v(event_id, account_id, type, balance, amount, cause, reason, ord)
  ${ACCOUNT_CURRENCY}
  order by v.ord
  on conflict (event_id) do nothing`;

const INSERT_INVOICES = `
  insert into invoices (invoice_id, account_id, amount_micros, currency, cause, created_at)
  select v.invoice_id, v.account_id, v.amount, a.currency, v.cause, $5
  from unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) as v(invoice_id, account_id, amount, cause)
  ${ACCOUNT_CURRENCY}
  on conflict (invoice_id) do nothing`;

// A number bought is the account's in the same transaction as its payment: a taken
// number (phone_numbers_pkey) fails both, so a purchase is paid if and only if it owns.
const INSERT_NUMBERS = `
  insert into phone_numbers (number, account_id, number_type, monthly_price_micros, currency, purchased_at)
  select v.number, v.account_id, v.number_type, v.price, a.currency, $5
  from unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) as v(number, account_id, number_type, price)
  ${ACCOUNT_CURRENCY}`;

// A CDR settles the open call session of the same account whose call_id is its cdr_id
// (SPEC §8), in the transaction that records its entry, as apply-2n.lua did in Redis.
const SETTLE_CALLS = `
  update call_sessions c set state = 'settled', held_micros = 0, updated_at = $3
  from unnest($1::text[], $2::text[]) as v(account_id, call_id)
  where c.account_id = v.account_id and c.call_id = v.call_id and c.state in ('active', 'ended')`;

export class PostgresLedger implements Ledger {
  constructor(private readonly pool: pg.Pool) {}

  async recorded(
    requests: readonly { accountId: string; key: string }[],
  ): Promise<Map<string, RecordedEntry>> {
    const found = new Map<string, RecordedEntry>();
    if (requests.length === 0) return found;
    const { rows } = await this.pool.query<{
      account_id: string;
      idempotency_key: string;
      seq: string;
      amount_micros: string;
      balance_after_micros: string;
      rate_version: string | null;
      details: Record<string, unknown> | null;
    }>({
      ...RECORDED,
      values: [requests.map((r) => r.accountId), requests.map((r) => r.key)],
    });
    for (const row of rows) {
      found.set(recordedKey(row.account_id, row.idempotency_key), {
        accountId: row.account_id,
        key: row.idempotency_key,
        seq: BigInt(row.seq),
        amountMicros: BigInt(row.amount_micros),
        balanceAfterMicros: BigInt(row.balance_after_micros),
        rateVersion: row.rate_version === null ? null : Number(row.rate_version),
        details: row.details,
      });
    }
    return found;
  }

  async record(applied: Applied[], occurredAt: Date): Promise<RecordResult> {
    const e = { account: [] as string[], seq: [] as string[], key: [] as string[], kind: [] as string[] };
    const amount: string[] = [];
    const after: string[] = [];
    const rateVersion: (string | null)[] = [];
    const cdrId: (string | null)[] = [];
    const reference: (string | null)[] = [];
    const details: (string | null)[] = [];
    const call = {
      plan: [] as (string | null)[],
      billedSeconds: [] as (number | null)[],
      prefix: [] as (string | null)[],
      rateEffectiveFrom: [] as (string | null)[],
    };
    const ev = { id: [] as string[], account: [] as string[], type: [] as string[], balance: [] as string[] };
    const evAmount: (string | null)[] = [];
    const evCause: string[] = [];
    const evReason: (string | null)[] = [];
    const inv = {
      id: [] as string[],
      account: [] as string[],
      amount: [] as string[],
      cause: [] as string[],
    };
    const num = {
      number: [] as string[],
      account: [] as string[],
      type: [] as string[],
      price: [] as string[],
    };

    const settles = { account: [] as string[], call: [] as string[] };
    for (const { request, entries, events, settledCall } of applied) {
      // Redis decided it (apply-2n.lua): a CDR after its session expired settles nothing.
      if (settledCall) {
        settles.account.push(request.accountId);
        settles.call.push(request.key.slice("cdr:".length));
      }
      if (request.buysNumber) {
        num.number.push(request.buysNumber.number);
        num.account.push(request.accountId);
        num.type.push(request.buysNumber.numberType);
        num.price.push((-request.amountMicros).toString());
      }
      entries.forEach((entry, i) => {
        const own = i === 0; // the request's own entry; later ones are reloads it set off
        e.account.push(entry.accountId);
        e.seq.push(entry.seq.toString());
        e.key.push(entry.key);
        e.kind.push(entry.kind);
        amount.push(entry.amountMicros.toString());
        after.push(entry.afterMicros.toString());
        rateVersion.push(own && request.rateVersion != null ? String(request.rateVersion) : null);
        cdrId.push(own ? (request.cdrId ?? null) : null);
        reference.push(own ? (request.reference ?? null) : entry.key);
        const rating = own && entry.kind === "call" ? callRating(request.details) : undefined;
        details.push(own && request.details && !rating ? JSON.stringify(request.details) : null);
        call.plan.push(rating?.plan ?? null);
        call.billedSeconds.push(rating?.billed_seconds ?? null);
        call.prefix.push(rating?.prefix ?? null);
        call.rateEffectiveFrom.push(rating?.rate_effective_from ?? null);
        if (entry.kind === "offline_reload") {
          inv.id.push(invoiceId(entry.accountId, entry.key));
          inv.account.push(entry.accountId);
          inv.amount.push(entry.amountMicros.toString());
          inv.cause.push(entry.key);
        }
      });
      for (const event of events) {
        ev.id.push(eventIdOf(event));
        ev.account.push(event.accountId);
        ev.type.push(event.type);
        ev.balance.push(event.balanceMicros.toString());
        evAmount.push(event.amountMicros?.toString() ?? null);
        evCause.push(event.cause);
        evReason.push(event.reason ?? null);
      }
    }

    return inTransaction<RecordResult>(this.pool, async (client) => {
      const { rows } = await client.query<{ account_id: string; idempotency_key: string }>({
        ...INSERT_ENTRIES,
        values: [
          e.account,
          e.seq,
          e.key,
          e.kind,
          amount,
          after,
          rateVersion,
          cdrId,
          reference,
          details,
          call.plan,
          call.billedSeconds,
          call.prefix,
          call.rateEffectiveFrom,
          occurredAt,
        ],
      });
      if (rows.length < e.key.length) {
        const inserted = new Set(rows.map((r) => recordedKey(r.account_id, r.idempotency_key)));
        const raced = new Set(
          applied
            .filter(({ entries }) => entries.some((x) => !inserted.has(recordedKey(x.accountId, x.key))))
            .map(({ request }) => recordedKey(request.accountId, request.key)),
        );
        return rollBack({ status: "raced", keys: raced });
      }
      const unchained = await unchainedAccounts(client, applied);
      if (unchained.accounts.size > 0) {
        return rollBack({ status: "unchained", ...unchained });
      }
      if (ev.id.length > 0) {
        await client.query(INSERT_EVENTS, [
          ev.id,
          ev.account,
          ev.type,
          ev.balance,
          evAmount,
          evCause,
          evReason,
          occurredAt,
        ]);
      }
      if (inv.id.length > 0) {
        await client.query(INSERT_INVOICES, [inv.id, inv.account, inv.amount, inv.cause, occurredAt]);
      }
      if (num.number.length > 0) {
        await client.query(INSERT_NUMBERS, [num.number, num.account, num.type, num.price, occurredAt]);
      }
      if (settles.call.length > 0) {
        await client.query(SETTLE_CALLS, [settles.account, settles.call, occurredAt]);
      }
      return { status: "recorded" };
    }).catch((err: unknown) => {
      throw refusalOf(err);
    });
  }

  async totals(
    accountId: string,
    uptoSeq: bigint,
    keys: string[],
  ): Promise<{ sumMicros: bigint; entries: bigint; recordedKeys: Set<string> }> {
    const { rows } = await this.pool.query<{ sum: string; entries: string; recorded: string[] }>(
      `select coalesce(sum(amount_micros) filter (where seq <= $2), 0) as sum,
              count(*) filter (where seq <= $2) as entries,
              coalesce(array_agg(idempotency_key) filter (where idempotency_key = any($3::text[])), '{}') as recorded
         from ledger_entries where account_id = $1`,
      [accountId, uptoSeq.toString(), keys],
    );
    const row = rows[0]!;
    return { sumMicros: BigInt(row.sum), entries: BigInt(row.entries), recordedKeys: new Set(row.recorded) };
  }

  async recordEvents(events: BalanceEventDraft[], occurredAt: Date): Promise<string[]> {
    const ids = events.map(eventIdOf);
    await this.pool.query(INSERT_EVENTS, [
      ids,
      events.map((e) => e.accountId),
      events.map((e) => e.type),
      events.map((e) => e.balanceMicros.toString()),
      events.map((e) => e.amountMicros?.toString() ?? null),
      events.map((e) => e.cause),
      events.map((e) => e.reason ?? null),
      occurredAt,
    ]);
    return ids;
  }

  async snapshot(accountId: string, month: string): Promise<AccountSnapshot | undefined> {
    const monthStart = new Date(`${month}-01T00:00:00Z`);
    // One snapshot of the balance and the open call sessions: a CDR settling a session
    // meanwhile is in both or neither.
    return inTransaction(
      this.pool,
      async (client) => {
        const snapshot = await this.snapshotIn(client, accountId, month, monthStart);
        if (snapshot) snapshot.calls = await openCallSessions(client, accountId);
        return snapshot;
      },
      "begin isolation level repeatable read read only",
    );
  }

  private async snapshotIn(
    client: pg.PoolClient,
    accountId: string,
    month: string,
    monthStart: Date,
  ): Promise<AccountSnapshot | undefined> {
    const { rows } = await client.query<
      AccountRow & {
        balance: string;
        seq: string;
        mtd_auto: string;
        mtd_off: string;
        capped_auto: boolean;
        capped_off: boolean;
      }
    >(
      `select a.*,
         coalesce((select sum(amount_micros) from ledger_entries where account_id = a.account_id), 0) as balance,
         coalesce((select max(seq) from ledger_entries where account_id = a.account_id), 0) as seq,
         coalesce((select sum(amount_micros) from balance_events where account_id = a.account_id
                     and type = 'auto_recharge_requested' and occurred_at >= $2), 0) as mtd_auto,
         coalesce((select sum(amount_micros) from ledger_entries where account_id = a.account_id
                     and kind = 'offline_reload' and created_at >= $2), 0) as mtd_off,
         exists (select 1 from balance_events where account_id = a.account_id
                   and type = 'auto_recharge_capped' and cause = $3) as capped_auto,
         exists (select 1 from balance_events where account_id = a.account_id
                   and type = 'auto_recharge_capped' and cause = 'offline:' || $3) as capped_off
       from accounts a where a.account_id = $1`,
      [accountId, monthStart, month],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      accountId,
      balanceMicros: BigInt(row.balance),
      seq: BigInt(row.seq),
      settings: settingsOf(row),
      month,
      monthAutoRechargeMicros: BigInt(row.mtd_auto),
      monthOfflineReloadMicros: BigInt(row.mtd_off),
      cappedAutoThisMonth: row.capped_auto,
      cappedOfflineThisMonth: row.capped_off,
    };
  }
}

export interface AccountRow {
  account_id: string;
  currency: string;
  admin_email: string;
  trial: boolean;
  recharge_mode: "online" | "offline";
  auto_recharge_enabled: boolean;
  auto_recharge_amount_micros: string | null;
  auto_recharge_monthly_limit_micros: string | null;
  offline_reload_micros: string | null;
  offline_threshold_micros: string | null;
  offline_monthly_max_micros: string | null;
  stripe_customer_id: string | null;
  stripe_payment_method: string | null;
  settings_version: string;
  /** The rate plan (SPEC §10). */
  plan: string;
}

const big = (v: string | null) => (v === null ? null : BigInt(v));

export function settingsOf(row: AccountRow): AccountSnapshot["settings"] {
  return {
    version: BigInt(row.settings_version),
    trial: row.trial,
    rechargeMode: row.recharge_mode,
    autoRechargeEnabled: row.auto_recharge_enabled,
    autoRechargeAmountMicros: big(row.auto_recharge_amount_micros),
    autoRechargeMonthlyLimitMicros: big(row.auto_recharge_monthly_limit_micros),
    offlineReloadMicros: big(row.offline_reload_micros),
    offlineThresholdMicros: big(row.offline_threshold_micros),
    offlineMonthlyMaxMicros: big(row.offline_monthly_max_micros),
  };
}

/**
 * The accounts whose entries do not each follow the entry before them, in this batch or
 * else in the ledger: Redis applied them on a state the ledger does not hold — a twin
 * writer's doubled entries (which its own record() finds raced, then undoes), or another
 * writer's entry not committed yet (`missing`, and it may still come). One look-up per
 * account and batch in the common case: within a batch an account's entries follow
 * each other.
 */
async function unchainedAccounts(
  client: pg.PoolClient,
  applied: Applied[],
): Promise<{ accounts: Set<string>; missing: boolean }> {
  const entries = applied.flatMap((a) => a.entries);
  const after = new Map(entries.map((e) => [`${e.accountId}\u0000${e.seq}`, e.afterMicros]));
  const accounts = new Set<string>();
  let missing = true;
  const look = { account: [] as string[], seq: [] as string[], before: [] as string[] };
  for (const e of entries) {
    const previous = after.get(`${e.accountId}\u0000${e.seq - 1n}`);
    if (previous !== undefined || e.seq === 1n) {
      if ((previous ?? 0n) !== e.beforeMicros) {
        accounts.add(e.accountId);
        missing = false;
      }
    } else {
      look.account.push(e.accountId);
      look.seq.push(e.seq.toString());
      look.before.push(e.beforeMicros.toString());
    }
  }
  if (look.account.length > 0) {
    const { rows } = await client.query<{ account_id: string; missing: boolean }>({
      ...UNCHAINED,
      values: [look.account, look.seq, look.before],
    });
    for (const row of rows) {
      accounts.add(row.account_id);
      missing &&= row.missing;
    }
  }
  return { accounts, missing };
}

/** A call's rating as the rater writes it (pipeline/messages.ts RatingFields, less the charge). */
interface CallRating {
  plan: string;
  billed_seconds: number;
  prefix: string;
  rate_effective_from: string;
}

/**
 * An instant exactly as formatInstant (core/time.ts) prints it, and so as entry_details()
 * prints the column back: a string that only looks like one (a 30th of February, a year
 * past 9999) stays in `details`, where Postgres takes any text.
 */
function isPrintedInstant(text: string): boolean {
  const ms = Date.parse(text);
  return text.length === 20 && Number.isFinite(ms) && formatInstant(ms * 1000) === text;
}

/**
 * Details that are exactly a call's rating go to the entry's typed columns (migration 010),
 * which entry_details() turns back into the same object; anything else stays in `details`.
 */
function callRating(details: Record<string, unknown> | undefined): CallRating | undefined {
  if (!details) return undefined;
  let keys = 0;
  for (const _ in details) keys++; // without allocating: this runs once per CDR
  const { plan, billed_seconds, prefix, rate_effective_from } = details;
  const fits =
    keys === 4 &&
    typeof plan === "string" &&
    Number.isInteger(billed_seconds) &&
    (billed_seconds as number) >= 0 &&
    (billed_seconds as number) <= 2_147_483_647 &&
    typeof prefix === "string" &&
    typeof rate_effective_from === "string" &&
    isPrintedInstant(rate_effective_from);
  return fits ? (details as unknown as CallRating) : undefined;
}

/**
 * What a failed ledger write means, from Postgres's SQLSTATE: a seq another writer took
 * (retry after a restore), a record Postgres refuses for its content (class 22 data
 * exception, class 23 constraint: the record's fault), or as any Postgres error
 * (postgres/errors.ts: a connection lost, the server away: retry).
 */
function refusalOf(err: unknown): unknown {
  const e = err as { code?: unknown; constraint?: string; detail?: string; message?: string };
  if (typeof e.code !== "string") return err;
  if (e.code === "23505" && e.constraint === "ledger_entries_pkey") {
    const account = /\(account_id, seq\)=\((.*), \d+\)/.exec(e.detail ?? "")?.[1];
    if (account !== undefined) return new SequenceConflictError(account, { cause: err });
  }
  if (e.code.startsWith("22") || e.code.startsWith("23")) {
    const constraint = e.constraint ? ` (constraint ${e.constraint})` : "";
    return new RecordRefusedError(`the ledger refused the entry: ${e.message}${constraint}`, { cause: err });
  }
  return postgresError(err) ?? err;
}
