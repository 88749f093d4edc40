/**
 * `ratestream rerate` (SPEC §9): read the calls of a period back, re-rate each with the
 * chosen deck version, compare with the charge the ledger holds, stage the outcome of
 * each call once in Postgres, write the report of changed calls and, with --apply, book
 * each account's total as one `rerate` entry through the normal write path.
 *
 * An --apply run is resumable by its name: reading -> staged (per-call outcomes and the
 * summary durable) -> booked. A crash while reading reads again; after staging, booking
 * carries on, and the write path's idempotency per (account, "rerate:<run>") books each
 * account once. Memory holds one batch of calls and one page of accounts.
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { Cdr } from "../core/cdr.js";
import {
  inWindow,
  reportLine,
  REPORT_COLUMNS,
  csvLine,
  rerateCall,
  type RerateSummary,
  type CallOutcome,
} from "../core/rerate.js";
import type { RateTable } from "../core/rating/rate-table.js";
import { formatInstant } from "../core/time.js";
import { RatestreamError } from "../errors.js";
import { DEFAULT_PLAN } from "../adapters/postgres/rate-versions.js";
import * as store from "../adapters/postgres/rerate.js";
import { applyEntries, type WritePathDeps } from "../balances/write-path.js";
import type { EntryRequest } from "../balances/types.js";
import type { CallBatchHandler, ReadStats } from "./sources.js";

export interface RerateOptions {
  fromMicros: number;
  toMicros: number;
  accountId?: string;
  /** Only this plan's accounts (SPEC §10); absent: every account, each by its own plan. */
  plan?: string;
  /** A version of --plan (of `default` without it); absent: the newest. */
  version?: number;
  out: string;
  /** With a name: book the corrections (--apply --run <name>). */
  apply?: { run: string };
}

export interface RerateDeps {
  pool: pg.Pool;
  write: WritePathDeps;
  /** A plan's deck version (the newest when absent); undefined when there is none. */
  loadTable(plan: string, version: number | undefined): Promise<RateTable | undefined>;
  /** Reads the calls of the period (from the topic or a file), batch by batch. */
  read(handler: CallBatchHandler): Promise<ReadStats>;
  progress(text: string, final?: boolean): void;
  /** Holds off any other --apply on this database until released; undefined if one runs. */
  exclusive(): Promise<(() => Promise<void>) | undefined>;
}

/** Accounts booked per write-path call: one page of totals in memory at a time. */
const BOOK_PAGE = Number(process.env.RATESTREAM_RERATE_BOOK_PAGE ?? 500);
const REPORT_PAGE = 5_000;

export async function rerate(deps: RerateDeps, options: RerateOptions): Promise<RerateSummary> {
  if (options.fromMicros >= options.toMicros) {
    throw new RatestreamError("bad_usage", "--from must be before --to");
  }
  const runName = options.apply?.run ?? `dry-${randomBytes(8).toString("hex")}`;
  const run = options.apply ? await store.findRun(deps.pool, runName) : undefined;
  if (run) checkSameRun(run, options);
  const pricing = run ? { plan: run.plan, version: run.rateVersion } : await choosePricing(deps, options);

  if (!options.apply) {
    await store.deleteStaleDryRuns(deps.pool);
    await store.createRun(deps.pool, runRow(runName, "dry", options, pricing));
    try {
      await readAndStage(deps, pricing, runName, options);
      await writeReport(deps.pool, runName, options.out);
      return await store.stagedSummary(deps.pool, runName);
    } finally {
      await store.deleteRun(deps.pool, runName);
    }
  }

  const release = await deps.exclusive();
  if (release === undefined) {
    throw new RatestreamError(
      "bad_usage",
      "another `rerate --apply` is running on this database: wait for it",
    );
  }
  try {
    return await applyRun(deps, options, pricing, runName);
  } finally {
    await release();
  }
}

async function applyRun(
  deps: RerateDeps,
  options: RerateOptions,
  chosen: Pricing,
  runName: string,
): Promise<RerateSummary> {
  // Read again under the lock: another process may have started or moved the run meanwhile.
  let run = await store.findRun(deps.pool, runName);
  if (run) checkSameRun(run, options);
  const pricing = run ? { plan: run.plan, version: run.rateVersion } : chosen;
  if (run === undefined) {
    const unfinished = await store.unfinishedRuns(deps.pool, runName);
    if (unfinished.length > 0) {
      throw new RatestreamError(
        "bad_usage",
        `run "${unfinished[0]}" was not finished: run its command again (same --run) before starting another`,
      );
    }
    await store.createRun(deps.pool, runRow(runName, "reading", options, pricing));
    run = (await store.findRun(deps.pool, runName))!;
  }
  if (run.state === "reading") {
    await store.clearStagedCalls(deps.pool, runName);
    await readAndStage(deps, pricing, runName, options);
    await store.setRunState(deps.pool, runName, "staged", {
      ...(await store.stagedSummary(deps.pool, runName)),
    });
    run = (await store.findRun(deps.pool, runName))!;
  }
  if (run.state === "staged") {
    await book(deps, run);
    await store.dropUnchangedCalls(deps.pool, runName);
    await store.setRunState(deps.pool, runName, "booked");
  }
  await writeReport(deps.pool, runName, options.out);
  return inSpecOrder(run.summary!);
}

/** jsonb keeps keys in its own order: print them in SPEC §9's. */
function inSpecOrder(s: Record<string, number>): RerateSummary {
  return {
    calls_read: s.calls_read!,
    changed: s.changed!,
    unchanged: s.unchanged!,
    not_in_ledger: s.not_in_ledger!,
    no_rate: s.no_rate!,
    accounts: s.accounts!,
    total_delta_micros: s.total_delta_micros!,
  };
}

/** Which deck prices a call: one plan's version, or (plan null) each account's plan's newest. */
interface Pricing {
  plan: string | null;
  version: number | null;
}

async function choosePricing(deps: RerateDeps, options: RerateOptions): Promise<Pricing> {
  const plan = options.plan ?? (options.version !== undefined ? DEFAULT_PLAN : undefined);
  if (plan === undefined) return { plan: null, version: null };
  const table = await deps.loadTable(plan, options.version);
  if (table === undefined || table.version === null) {
    throw new RatestreamError(
      "bad_usage",
      options.version === undefined
        ? `plan "${plan}" has no rate version`
        : `no rate version ${options.version} of plan "${plan}"`,
    );
  }
  return { plan, version: table.version };
}

function runRow(runName: string, state: store.RunState, options: RerateOptions, pricing: Pricing) {
  return {
    runName,
    state,
    fromAt: new Date(options.fromMicros / 1000),
    toAt: new Date(options.toMicros / 1000),
    accountId: options.accountId ?? null,
    plan: pricing.plan,
    rateVersion: pricing.version,
  };
}

/** A run name stands for one window, account and version: anything else is another run. */
function checkSameRun(run: store.RerateRun, options: RerateOptions): void {
  const differs =
    run.fromAt.getTime() !== Math.floor(options.fromMicros / 1000) ||
    run.toAt.getTime() !== Math.floor(options.toMicros / 1000) ||
    run.accountId !== (options.accountId ?? null) ||
    (options.plan !== undefined && options.plan !== run.plan) ||
    (options.version !== undefined && options.version !== run.rateVersion);
  if (differs) {
    throw new RatestreamError(
      "bad_usage",
      `run "${run.runName}" was for ${run.fromAt.toISOString()} to ${run.toAt.toISOString()}` +
        `${run.accountId ? ` on account ${run.accountId}` : ""} ` +
        (run.plan === null ? " on every plan" : ` with rate version ${run.rateVersion} of plan ${run.plan}`) +
        ": " +
        "use another --run name for other options",
    );
  }
}

async function readAndStage(
  deps: RerateDeps,
  pricing: Pricing,
  runName: string,
  options: RerateOptions,
): Promise<void> {
  const window = { fromMicros: options.fromMicros, toMicros: options.toMicros };
  // One table per plan, loaded once: plans are few, calls many.
  const tables = new Map<string, Promise<RateTable | undefined>>();
  const tableOf = (plan: string) => {
    if (!tables.has(plan)) tables.set(plan, deps.loadTable(plan, pricing.version ?? undefined));
    return tables.get(plan)!;
  };
  const stats = await deps.read(async (batch) => {
    const inScope = batch.filter(
      (cdr) =>
        inWindow(cdr, window) && (options.accountId === undefined || cdr.account_id === options.accountId),
    );
    if (inScope.length === 0) return;
    const plans = await store.accountPlans(
      deps.pool,
      inScope.map((c) => c.account_id),
    );
    const calls = inScope.filter((c) => pricing.plan === null || plans.get(c.account_id) === pricing.plan);
    if (calls.length === 0) return;
    const recorded = await store.recordedCharges(
      deps.pool,
      calls.map((c) => ({ accountId: c.account_id, cdrId: c.cdr_id })),
    );
    const rows: store.StagedCall[] = [];
    for (const cdr of calls) {
      const plan = plans.get(cdr.account_id);
      const table = plan === undefined ? undefined : await tableOf(plan);
      const charged = recorded.get(store.callKey(cdr.account_id, cdr.cdr_id));
      const outcome: CallOutcome =
        table !== undefined
          ? rerateCall(table, cdr, charged)
          : charged === undefined
            ? { outcome: "not_in_ledger" }
            : {
                outcome: "no_rate",
                message: `no rate version of plan "${plan ?? "?"}" for ${cdr.account_id}`,
              };
      rows.push(staged(cdr, outcome));
    }
    await store.stageCalls(deps.pool, runName, rows);
  });
  if (stats.invalid > 0) deps.progress(`skipped ${stats.invalid} records that are not valid CDRs`, true);
  await nameSkippedCalls(deps, runName);
}

/** Calls counted but never booked are named on stderr (the first few), so a person can look. */
async function nameSkippedCalls(deps: RerateDeps, runName: string): Promise<void> {
  const shown = 10;
  for (const [outcome, what] of [
    ["not_in_ledger", "not in the ledger"],
    ["no_rate", "no longer rateable by this version"],
  ] as const) {
    const calls = await store.someCalls(deps.pool, runName, outcome, shown);
    if (calls.length === 0) continue;
    const names = calls.map((c) => `${c.accountId}/${c.cdrId}${c.problem ? ` (${c.problem})` : ""}`);
    deps.progress(
      `${outcome}: calls ${what}, counted, not booked: ${names.join(", ")}${calls.length === shown ? ", …" : ""}`,
      true,
    );
  }
}

function staged(cdr: Cdr, result: ReturnType<typeof rerateCall>): store.StagedCall {
  const row: store.StagedCall = {
    accountId: cdr.account_id,
    cdrId: cdr.cdr_id,
    outcome: result.outcome,
    answeredAt: formatInstant(cdr.answeredAtMicros),
    oldChargeMicros: null,
    newChargeMicros: null,
    deltaMicros: null,
    oldPrefix: null,
    newPrefix: null,
    oldRateVersion: null,
    newRateVersion: null,
    newBilledSeconds: null,
    newRateEffectiveFrom: null,
  };
  if (result.outcome === "unchanged" || result.outcome === "changed") {
    row.oldChargeMicros = result.old.chargeMicros;
    row.oldPrefix = result.old.prefix;
    row.oldRateVersion = result.old.rateVersion;
  }
  if (result.outcome === "no_rate") row.problem = result.message;
  if (result.outcome === "changed") {
    row.newChargeMicros = result.new.chargeMicros;
    row.deltaMicros = result.deltaMicros;
    row.newPrefix = result.new.prefix;
    row.newRateVersion = result.new.rateVersion;
    row.newBilledSeconds = result.new.billedSeconds;
    row.newRateEffectiveFrom = result.new.rateEffectiveFrom;
  }
  return row;
}

/** One `rerate` entry per account, amount −delta, through the normal write path. */
async function book(deps: RerateDeps, run: store.RerateRun): Promise<void> {
  let after = "";
  let booked = 0;
  for (;;) {
    const page = await store.accountTotals(deps.pool, run.runName, after, BOOK_PAGE);
    if (page.length === 0) break;
    const requests: EntryRequest[] = page.map((total) => ({
      accountId: total.accountId,
      key: `rerate:${run.runName}`,
      kind: "rerate",
      amountMicros: -total.deltaMicros,
      cause: `${run.runName}:${total.accountId}`,
      reference: `${run.runName}:${total.accountId}`,
      rateVersion: run.rateVersion,
      details: {
        run: run.runName,
        ...(run.plan === null ? {} : { plan: run.plan }),
        calls: total.calls,
        raised: total.raised,
        lowered: total.lowered,
        delta_micros: total.deltaMicros.toString(),
        from: run.fromAt.toISOString(),
        to: run.toAt.toISOString(),
      },
    }));
    const outcomes = await applyEntries(deps.write, requests);
    outcomes.forEach((outcome, i) => {
      const accountId = page[i]!.accountId;
      if (outcome.status === "unknown_account") {
        throw new RatestreamError("bad_usage", `no account "${accountId}" to book its correction on`);
      }
      if (outcome.status === "refused") {
        throw new RatestreamError(
          "bad_usage",
          `the correction of ${accountId} would take its balance past ±(2^53 − 1) micros`,
        );
      }
    });
    booked += page.length;
    deps.progress(`booked ${booked} accounts`);
    after = page[page.length - 1]!.accountId;
  }
  deps.progress(`booked ${booked} accounts`, true);
}

/** The CSV of changed calls, ordered by account and cdr_id, read from what the run staged. */
async function writeReport(pool: pg.Pool, runName: string, path: string): Promise<void> {
  const out = createWriteStream(path, "utf8");
  const opened = once(out, "open");
  const failed = once(out, "error").then(([err]) => {
    throw new RatestreamError("bad_usage", `cannot write the report ${path}: ${(err as Error).message}`);
  });
  await Promise.race([opened, failed]);
  const write = async (text: string) => {
    if (!out.write(text)) await Promise.race([once(out, "drain"), failed]);
  };
  await write(csvLine(REPORT_COLUMNS));
  let after: { accountId: string; cdrId: string } | undefined;
  for (;;) {
    const page = await store.changedCalls(pool, runName, after, REPORT_PAGE);
    if (page.length === 0) break;
    let text = "";
    for (const c of page) {
      text += reportLine({
        cdr_id: c.cdrId,
        account_id: c.accountId,
        answered_at: c.answeredAt,
        old_charge_micros: c.oldChargeMicros,
        new_charge_micros: c.newChargeMicros,
        delta_micros: c.deltaMicros,
        old_prefix: c.oldPrefix,
        new_prefix: c.newPrefix,
        old_rate_version: c.oldRateVersion,
        new_rate_version: c.newRateVersion,
      });
    }
    await write(text);
    const last = page[page.length - 1]!;
    after = { accountId: last.accountId, cdrId: last.cdrId };
  }
  out.end();
  await Promise.race([once(out, "finish"), failed]);
}
