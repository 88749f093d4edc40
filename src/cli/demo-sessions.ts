/**
 * The prepaid phase of `ratestream demo`: a switch simulator (src/tools/switch-simulator.ts)
 * places calls for accounts of their own through call sessions (SPEC §8) on the demo's
 * rater, and sends each call's CDR to Kafka once the call ends. The summary says what
 * sessions did (calls refused for credit, renews, cuts) and checks their promise: no
 * account whose calls all went through sessions ever had a balance below 2.00.
 */
import type pg from "pg";
import type { KafkaProducer } from "../adapters/kafka/types.js";
import { createApiKey } from "../adapters/postgres/accounts.js";
import { formatAmount } from "../core/money.js";
import type { Direction } from "../core/cdr.js";
import { generateCdrs, type RawCdr } from "../tools/cdr-generator.js";
import { httpSessionApi, runSwitch, type SwitchStats } from "../tools/switch-simulator.js";

export const BLOCK_FLOOR_MICROS = 2_000_000n;

export interface SessionPhase {
  stats: SwitchStats;
  /** CDRs the switch sent to Kafka (one per completed call). */
  sent: number;
  /** From the first call to the last CDR sent, ms. */
  elapsedMs: number;
}

/** Runs the switch for `seconds`, then lets its calls in progress end and sends their CDRs. */
export async function runSessionPhase(o: {
  pool: pg.Pool;
  producer: KafkaProducer;
  topic: string;
  apiPort: number;
  accounts: string[];
  prefixes: Record<Direction, readonly string[]>;
  seconds: number;
  callsPerSecond: number;
  /** Lines of the switch: a call offered while all are busy waits for one. */
  maxConcurrent: number;
  speed: number;
  seed: number;
  idPrefix: string;
  onTick: (stats: SwitchStats, sent: number) => unknown;
}): Promise<SessionPhase> {
  const { api_key: switchKey } = await createApiKey(o.pool, "switch", null);
  const api = httpSessionApi(`http://127.0.0.1:${o.apiPort}`, switchKey);
  const calls = generateCdrs(Number.MAX_SAFE_INTEGER, {
    seed: o.seed,
    accounts: o.accounts,
    prefixes: o.prefixes,
    unratedShare: 0.005,
    idPrefix: o.idPrefix,
  });

  // CDRs go out in batches, as a switch's producer sends them.
  let pending: RawCdr[] = [];
  let sent = 0;
  const flush = async () => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    await o.producer.send(
      o.topic,
      batch.map((c) => ({ key: c.account_id, value: JSON.stringify(c) })),
    );
    sent += batch.length;
  };
  // Flushed on a timer of its own, so a slow progress line never holds CDRs back.
  let flushing: Promise<void> = Promise.resolve();
  const flusher = setInterval(() => {
    flushing = flushing.then(flush);
  }, 100);
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  let stats: SwitchStats;
  try {
    stats = await runSwitch({
      api,
      calls,
      callsPerSecond: o.callsPerSecond,
      maxConcurrent: o.maxConcurrent,
      until: () => Date.now() >= deadline,
      call: { speed: o.speed },
      emitCdr: (cdr) => pending.push(cdr),
      onTick: (s) => o.onTick(s, sent),
      tickMs: 50,
    });
  } finally {
    clearInterval(flusher);
  }
  await flushing;
  await flush();
  return { stats, sent, elapsedMs: Date.now() - started };
}

/** Prints the phase's summary; false when an account went below 2.00 (the demo then exits 1). */
export async function sessionSummary(
  pool: pg.Pool,
  accounts: string[],
  phase: SessionPhase,
  rated: { count: number; seconds: number },
  say: (line: string) => void,
): Promise<boolean> {
  const s = phase.stats;
  const refused = Object.entries(s.refused).sort(([a], [b]) => (a < b ? -1 : 1));
  const countRefused = (reason: string) => s.refused[reason] ?? 0;
  say("== prepaid calls through call sessions (SPEC §8)");
  say(
    `calls offered:       ${s.offered.toLocaleString("en-US")} (at most ${s.peakConcurrent.toLocaleString("en-US")} at once)`,
  );
  say(
    `calls connected:     ${s.completed.toLocaleString("en-US")} (each started, cut at its grant or ended, and its CDR sent)`,
  );
  const forCredit = countRefused("insufficient_credit") + countRefused("blocked");
  const otherwise = refused.filter(([r]) => r !== "insufficient_credit" && r !== "blocked");
  say(
    `refused for credit:  ${forCredit.toLocaleString("en-US")} ` +
      `(insufficient_credit ${countRefused("insufficient_credit")}, blocked ${countRefused("blocked")})` +
      (otherwise.length > 0
        ? `; refused otherwise: ${otherwise.map(([r, n]) => `${r} ${n}`).join(", ")}`
        : ""),
  );
  say(`sessions renewed:    ${s.renews.toLocaleString("en-US")} renews`);
  say(`calls cut at grant:  ${s.cut.toLocaleString("en-US")} (the caller would have talked longer)`);
  if (s.busy > 0)
    say(
      `not placed:          ${s.busy.toLocaleString("en-US")} (every line busy: the API answered slower than calls came)`,
    );
  if (s.failed + s.errors > 0) {
    say(
      `API failures:        ${s.failed} starts, ${s.errors} renews/ends (failed closed); first: ${s.firstError ?? "-"}`,
    );
  }
  say(
    `CDRs rated:          ${rated.count.toLocaleString("en-US")} of ${phase.sent.toLocaleString("en-US")} sent, ` +
      `${Math.round(rated.count / rated.seconds).toLocaleString("en-US")} CDRs/s end to end (${rated.seconds.toFixed(1)} s; paced by the calls the switch places, not the rater's limit)`,
  );
  const { rows } = await pool.query<{ account_id: string; lowest: string; balance: string }>(
    `select account_id, min(balance_after_micros) as lowest,
            (array_agg(balance_after_micros order by seq desc))[1] as balance
       from ledger_entries where account_id = any($1::text[]) group by account_id order by lowest, account_id`,
    [accounts],
  );
  const below = rows.filter((r) => BigInt(r.lowest) < BLOCK_FLOOR_MICROS);
  const lowest = rows[0];
  say(
    `lowest balance:      ${lowest ? `${formatAmount(BigInt(lowest.lowest))} (${lowest.account_id})` : "-"}; ` +
      `${below.length} of ${accounts.length} accounts ever below 2.00`,
  );
  for (const row of rows.slice(0, 3))
    say(
      `  ${row.account_id.padEnd(32)} lowest ${formatAmount(BigInt(row.lowest))}, now ${formatAmount(BigInt(row.balance))}`,
    );
  if (below.length > 0) {
    say(
      `FAILED: accounts whose calls all went through sessions fell below 2.00: ${below.map((r) => r.account_id).join(", ")}`,
    );
    return false;
  }
  return true;
}
