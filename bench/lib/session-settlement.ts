/**
 * bench:e2e --sessions: the pipeline's CDRs/s when every CDR settles a call session
 * against the same count of CDRs that settle none, alternating in one sitting.
 *
 * For the "with" side, a session is opened and ended for each CDR before the raters
 * start (start then end, in process through calls/sessions.ts, not timed: the API's
 * cost is bench:api's subject), so each CDR's debit finds an ended session awaiting
 * it and releases its hold in the same script call (SPEC §8). Both sides are then
 * timed the same way, by the caller's pipelineRun.
 */
import type pg from "pg";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { PostgresLedger } from "../../src/adapters/postgres/ledger.js";
import { loadRateTable } from "../../src/adapters/postgres/rate-versions.js";
import { RedisBalanceStore } from "../../src/adapters/redis/balance-store.js";
import { RedisCallStore } from "../../src/adapters/redis/call-store.js";
import { DEFAULT_CALL_SETTINGS, endCall, startCall, type CallDeps } from "../../src/calls/sessions.js";
import { generateCdrs, type RawCdr } from "../../src/tools/cdr-generator.js";
import { median } from "./report.js";

export interface SessionComparison {
  cdrs: number;
  withoutSessions: number[];
  withSessions: number[];
  /** Sessions opened per second while preparing (start + end, in process, 32 at once). */
  openedPerS: number[];
  /** median(with) / median(without). */
  ratio: number;
}

export async function compareSessionSettlement(o: {
  pool: pg.Pool;
  redis: Redis;
  logger: Logger;
  runs: number;
  cdrs: number;
  cdrOptions: Parameters<typeof generateCdrs>[1];
  /** A fresh topic prefix per call; returns the cdrs topic. */
  newTopics: (tag: string) => Promise<{ prefix: string; cdrs: string }>;
  produce: (topic: string, cdrs: Iterable<RawCdr>) => Promise<number>;
  /** CDRs/s of raters reading the topic to its end. */
  pipeline: (topic: string, prefix: string, expected: number) => Promise<number>;
  log: (line: string) => void;
}): Promise<SessionComparison> {
  const table = await loadRateTable(o.pool);
  const deps: CallDeps = {
    store: new RedisCallStore(o.redis),
    pool: o.pool,
    write: { store: new RedisBalanceStore(o.redis), ledger: new PostgresLedger(o.pool), logger: o.logger },
    rateTable: () => table,
    settings: DEFAULT_CALL_SETTINGS,
  };
  const result: SessionComparison = {
    cdrs: o.cdrs,
    withoutSessions: [],
    withSessions: [],
    openedPerS: [],
    ratio: 0,
  };
  for (let run = 1; run <= o.runs; run++) {
    const plain = await o.newTopics(`nosess${run}`);
    const sent = await o.produce(
      plain.cdrs,
      generateCdrs(o.cdrs, { ...o.cdrOptions, seed: 100 + run, idPrefix: `nosess${run}` }),
    );
    result.withoutSessions.push(await o.pipeline(plain.cdrs, plain.prefix, sent));
    o.log(`sessions run ${run}: without sessions ${Math.round(result.withoutSessions.at(-1)!)} CDRs/s`);

    const settled = await o.newTopics(`sess${run}`);
    const cdrs = [...generateCdrs(o.cdrs, { ...o.cdrOptions, seed: 200 + run, idPrefix: `sess${run}` })];
    const t0 = performance.now();
    await openSessions(deps, cdrs);
    result.openedPerS.push(cdrs.length / ((performance.now() - t0) / 1000));
    const produced = await o.produce(settled.cdrs, cdrs);
    result.withSessions.push(await o.pipeline(settled.cdrs, settled.prefix, produced));
    o.log(
      `sessions run ${run}: every CDR settling a session ${Math.round(result.withSessions.at(-1)!)} CDRs/s ` +
        `(${Math.round(result.openedPerS.at(-1)!)} sessions/s opened beforehand)`,
    );
  }
  result.ratio = Number((median(result.withSessions) / median(result.withoutSessions)).toFixed(3));
  return result;
}

/** A session per CDR (call_id = cdr_id), started and ended with its duration; 32 at once. */
async function openSessions(deps: CallDeps, cdrs: RawCdr[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cdrs.length) {
      const cdr = cdrs[next++]!;
      const meta = {
        direction: cdr.direction,
        to: cdr.to,
        features: (cdr.surcharges ?? []).map((s) => s.feature),
      };
      const started = await startCall(deps, cdr.account_id, cdr.cdr_id, meta);
      if (started.status !== "granted")
        throw new Error(`bench: the session of ${cdr.cdr_id} was not granted: ${JSON.stringify(started)}`);
      const ended = await endCall(deps, cdr.account_id, cdr.cdr_id, cdr.duration_seconds);
      if (ended.status !== "ended") throw new Error(`bench: the end of ${cdr.cdr_id}: ${ended.status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}
