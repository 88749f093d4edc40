/**
 * Postgres side of re-rating (SPEC §9): runs, the calls each run read (staged once per
 * (account, cdr_id)), the charge the ledger holds for a call as of its latest booked
 * correction, and the per-account totals booking walks through in pages.
 */
import type pg from "pg";
import type { RecordedCharge } from "../../core/rerate.js";

export type RunState = "dry" | "reading" | "staged" | "booked";

export interface RerateRun {
  runName: string;
  state: RunState;
  fromAt: Date;
  toAt: Date;
  accountId: string | null;
  plan: string | null;
  rateVersion: number | null;
  summary: Record<string, number> | null;
}

export interface StagedCall {
  accountId: string;
  cdrId: string;
  outcome: "changed" | "unchanged" | "not_in_ledger" | "no_rate";
  answeredAt: string;
  oldChargeMicros: bigint | null;
  newChargeMicros: bigint | null;
  deltaMicros: bigint | null;
  oldPrefix: string | null;
  newPrefix: string | null;
  oldRateVersion: number | null;
  newRateVersion: number | null;
  newBilledSeconds: number | null;
  newRateEffectiveFrom: string | null;
  problem?: string | null;
}

export interface AccountTotal {
  accountId: string;
  calls: number;
  raised: number;
  lowered: number;
  deltaMicros: bigint;
}

/** A call's key in the maps below. */
export function callKey(accountId: string, cdrId: string): string {
  return `${accountId}\u0000${cdrId}`;
}

// The call's ledger entry, unless a correction of it was booked since: then the latest
// (a correction counts once the ledger holds its run's entry for the account).
const RECORDED_CHARGES = `
  select v.account_id, v.cdr_id,
         coalesce(c.new_charge_micros, -l.amount_micros) as charge_micros,
         case when c.cdr_id is null then coalesce(l.prefix, l.details->>'prefix') else c.new_prefix end as prefix,
         case when c.cdr_id is null then l.rate_version else c.new_rate_version end as rate_version
    from unnest($1::text[], $2::text[]) as v(account_id, cdr_id)
    -- One index probe per call, never a hash of the whole ledger (as ledger.ts does it).
    cross join lateral (
      select * from ledger_entries l
       where l.account_id = v.account_id and l.idempotency_key = 'cdr:' || v.cdr_id limit 1) l
    left join lateral (
      select rc.cdr_id, rc.new_charge_micros, rc.new_prefix, rc.new_rate_version
        from rerated_calls rc
        join ledger_entries b on b.account_id = rc.account_id and b.idempotency_key = 'rerate:' || rc.run_name
       where rc.account_id = v.account_id and rc.cdr_id = v.cdr_id and rc.outcome = 'changed'
       order by b.seq desc
       limit 1) c on true`;

export async function recordedCharges(
  pool: pg.Pool,
  calls: readonly { accountId: string; cdrId: string }[],
): Promise<Map<string, RecordedCharge>> {
  const { rows } = await pool.query<{
    account_id: string;
    cdr_id: string;
    charge_micros: string;
    prefix: string | null;
    rate_version: string | null;
  }>(RECORDED_CHARGES, [calls.map((c) => c.accountId), calls.map((c) => c.cdrId)]);
  return new Map(
    rows.map((r) => [
      callKey(r.account_id, r.cdr_id),
      {
        chargeMicros: BigInt(r.charge_micros),
        prefix: r.prefix,
        rateVersion: r.rate_version === null ? null : Number(r.rate_version),
      },
    ]),
  );
}

/** The plan each of these accounts is on (SPEC §10); an account that is gone is absent. */
export async function accountPlans(
  pool: pg.Pool,
  accountIds: readonly string[],
): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ account_id: string; plan: string }>(
    "select account_id, plan from accounts where account_id = any($1::text[])",
    [[...new Set(accountIds)]],
  );
  return new Map(rows.map((r) => [r.account_id, r.plan]));
}

/** Stages calls; a (account, cdr_id) the run already holds is left as it is (seen twice counts once). */
export async function stageCalls(
  pool: pg.Pool,
  runName: string,
  calls: readonly StagedCall[],
): Promise<void> {
  if (calls.length === 0) return;
  const column = <T>(pick: (c: StagedCall) => T) => calls.map(pick);
  const text = (v: bigint | number | null) => (v === null ? null : v.toString());
  await pool.query(
    `insert into rerated_calls (run_name, account_id, cdr_id, outcome, answered_at, old_charge_micros,
       new_charge_micros, delta_micros, old_prefix, new_prefix, old_rate_version, new_rate_version,
       new_billed_seconds, new_rate_effective_from, problem)
     select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
       $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::integer[], $14::text[],
       $15::text[])
     on conflict do nothing`,
    [
      runName,
      column((c) => c.accountId),
      column((c) => c.cdrId),
      column((c) => c.outcome),
      column((c) => c.answeredAt),
      column((c) => text(c.oldChargeMicros)),
      column((c) => text(c.newChargeMicros)),
      column((c) => text(c.deltaMicros)),
      column((c) => c.oldPrefix),
      column((c) => c.newPrefix),
      column((c) => text(c.oldRateVersion)),
      column((c) => text(c.newRateVersion)),
      column((c) => c.newBilledSeconds),
      column((c) => c.newRateEffectiveFrom),
      column((c) => c.problem ?? null),
    ],
  );
}

/** The summary of what a run staged (SPEC §9's JSON line). */
export async function stagedSummary(pool: pg.Pool, runName: string) {
  const { rows } = await pool.query<{
    calls: string;
    changed: string;
    unchanged: string;
    not_in_ledger: string;
    no_rate: string;
    accounts: string;
    delta: string;
  }>(
    `select count(*) as calls,
            count(*) filter (where outcome = 'changed') as changed,
            count(*) filter (where outcome = 'unchanged') as unchanged,
            count(*) filter (where outcome = 'not_in_ledger') as not_in_ledger,
            count(*) filter (where outcome = 'no_rate') as no_rate,
            count(distinct account_id) filter (where outcome = 'changed') as accounts,
            coalesce(sum(delta_micros) filter (where outcome = 'changed'), 0) as delta
       from rerated_calls where run_name = $1`,
    [runName],
  );
  const r = rows[0]!;
  return {
    calls_read: Number(r.calls),
    changed: Number(r.changed),
    unchanged: Number(r.unchanged),
    not_in_ledger: Number(r.not_in_ledger),
    no_rate: Number(r.no_rate),
    accounts: Number(r.accounts),
    total_delta_micros: Number(r.delta),
  };
}

/** The first few calls of an outcome that is reported and never booked, to name them. */
export async function someCalls(
  pool: pg.Pool,
  runName: string,
  outcome: "not_in_ledger" | "no_rate",
  limit: number,
): Promise<{ accountId: string; cdrId: string; problem: string | null }[]> {
  const { rows } = await pool.query<{ account_id: string; cdr_id: string; problem: string | null }>(
    `select account_id, cdr_id, problem from rerated_calls
      where run_name = $1 and outcome = $2 order by account_id, cdr_id limit $3`,
    [runName, outcome, limit],
  );
  return rows.map((r) => ({ accountId: r.account_id, cdrId: r.cdr_id, problem: r.problem }));
}

/** One page of the run's changed calls, ordered by (account_id, cdr_id), after the given one. */
export async function changedCalls(
  pool: pg.Pool,
  runName: string,
  after: { accountId: string; cdrId: string } | undefined,
  limit: number,
): Promise<StagedCall[]> {
  const { rows } = await pool.query<Record<string, string | null>>(
    `select account_id, cdr_id, answered_at, old_charge_micros, new_charge_micros, delta_micros, old_prefix,
            new_prefix, old_rate_version, new_rate_version, new_billed_seconds, new_rate_effective_from
       from rerated_calls
      where run_name = $1 and outcome = 'changed' and (account_id, cdr_id) > ($2, $3)
      order by account_id, cdr_id
      limit $4`,
    [runName, after?.accountId ?? "", after?.cdrId ?? "", limit],
  );
  const big = (v: string | null) => (v === null ? null : BigInt(v));
  const num = (v: string | null) => (v === null ? null : Number(v));
  return rows.map((r) => ({
    accountId: r.account_id!,
    cdrId: r.cdr_id!,
    outcome: "changed",
    answeredAt: r.answered_at!,
    oldChargeMicros: big(r.old_charge_micros!),
    newChargeMicros: big(r.new_charge_micros!),
    deltaMicros: big(r.delta_micros!),
    oldPrefix: r.old_prefix!,
    newPrefix: r.new_prefix!,
    oldRateVersion: num(r.old_rate_version!),
    newRateVersion: num(r.new_rate_version!),
    newBilledSeconds: num(r.new_billed_seconds!),
    newRateEffectiveFrom: r.new_rate_effective_from!,
  }));
}

/** One page of per-account totals of the run's changed calls, after the given account. */
export async function accountTotals(
  pool: pg.Pool,
  runName: string,
  afterAccount: string,
  limit: number,
): Promise<AccountTotal[]> {
  const { rows } = await pool.query<{
    account_id: string;
    calls: string;
    raised: string;
    lowered: string;
    delta: string;
  }>(
    `select account_id, count(*) as calls, count(*) filter (where delta_micros > 0) as raised,
            count(*) filter (where delta_micros < 0) as lowered, sum(delta_micros) as delta
       from rerated_calls
      where run_name = $1 and outcome = 'changed' and account_id > $2
      group by account_id
      order by account_id
      limit $3`,
    [runName, afterAccount, limit],
  );
  return rows.map((r) => ({
    accountId: r.account_id,
    calls: Number(r.calls),
    raised: Number(r.raised),
    lowered: Number(r.lowered),
    deltaMicros: BigInt(r.delta),
  }));
}

export async function findRun(pool: pg.Pool, runName: string): Promise<RerateRun | undefined> {
  const { rows } = await pool.query<{
    run_name: string;
    state: RunState;
    from_at: Date;
    to_at: Date;
    account_id: string | null;
    plan: string | null;
    rate_version: string | null;
    summary: Record<string, number> | null;
  }>("select * from rerate_runs where run_name = $1", [runName]);
  const r = rows[0];
  return r === undefined
    ? undefined
    : {
        runName: r.run_name,
        state: r.state,
        fromAt: r.from_at,
        toAt: r.to_at,
        accountId: r.account_id,
        plan: r.plan,
        rateVersion: r.rate_version === null ? null : Number(r.rate_version),
        summary: r.summary,
      };
}

/** Runs started with --apply and not booked yet, other than this one. */
export async function unfinishedRuns(pool: pg.Pool, except: string): Promise<string[]> {
  const { rows } = await pool.query<{ run_name: string }>(
    "select run_name from rerate_runs where state in ('reading', 'staged') and run_name <> $1 order by created_at",
    [except],
  );
  return rows.map((r) => r.run_name);
}

export async function createRun(pool: pg.Pool, run: Omit<RerateRun, "summary">): Promise<void> {
  await pool.query(
    `insert into rerate_runs (run_name, state, from_at, to_at, account_id, plan, rate_version)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [run.runName, run.state, run.fromAt, run.toAt, run.accountId, run.plan, run.rateVersion],
  );
}

export async function setRunState(
  pool: pg.Pool,
  runName: string,
  state: RunState,
  summary?: Record<string, number>,
): Promise<void> {
  await pool.query(
    `update rerate_runs set state = $2, summary = coalesce($3::jsonb, summary), updated_at = now()
      where run_name = $1`,
    [runName, state, summary === undefined ? null : JSON.stringify(summary)],
  );
}

/** A run read again from the start (a crash while reading): what it staged goes. */
export async function clearStagedCalls(pool: pg.Pool, runName: string): Promise<void> {
  await pool.query("delete from rerated_calls where run_name = $1", [runName]);
}

/** Booked: only the corrections stay, the record later runs start from. */
export async function dropUnchangedCalls(pool: pg.Pool, runName: string): Promise<void> {
  await pool.query("delete from rerated_calls where run_name = $1 and outcome <> 'changed'", [runName]);
}

export async function deleteRun(pool: pg.Pool, runName: string): Promise<void> {
  await pool.query("delete from rerate_runs where run_name = $1", [runName]);
}

/** Dry runs left behind by a crash a day ago or more. */
export async function deleteStaleDryRuns(pool: pg.Pool): Promise<void> {
  await pool.query("delete from rerate_runs where state = 'dry' and created_at < now() - interval '1 day'");
}

/**
 * One `rerate --apply` at a time per database schema: a session-level advisory lock on a
 * connection of its own, held until the returned release. Undefined when another holds it.
 */
export async function lockApply(pool: pg.Pool): Promise<(() => Promise<void>) | undefined> {
  const client = await pool.connect();
  const key = "hashtext(current_schema() || ':ratestream-rerate-apply')";
  try {
    const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${key}) as ok`);
    if (!rows[0]!.ok) {
      client.release();
      return undefined;
    }
  } catch (err) {
    client.release();
    throw err;
  }
  return async () => {
    await client.query(`select pg_advisory_unlock(${key})`).catch(() => undefined);
    client.release();
  };
}
