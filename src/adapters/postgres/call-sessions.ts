/**
 * The durable record of call sessions (SPEC §8, migration 007). Redis decides each
 * grant; this records it before the switch is answered. Settling is done by the ledger
 * (PostgresLedger.record), in the transaction of the CDR's entry.
 */
import type pg from "pg";
import type { CallSession, CallState } from "../../calls/types.js";

const OPEN = "state in ('active', 'ended')";

/**
 * Records the session as Redis decided it. A row already closed (settled or expired) is
 * never reopened: "closed" names its state, and the caller undoes the Redis side. Of two
 * writes racing, the one with the higher rev stays.
 */
export async function recordCallSession(
  pool: pg.Pool,
  accountId: string,
  s: CallSession,
): Promise<{ status: "recorded" } | { status: "closed"; state: CallState }> {
  const { rowCount } = await pool.query(
    `insert into call_sessions (account_id, call_id, direction, to_number, features, state, granted_seconds,
       held_micros, expires_at, rev)
     values ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9::double precision / 1000), $10)
     on conflict (account_id, call_id) do update set state = excluded.state,
       granted_seconds = excluded.granted_seconds, held_micros = excluded.held_micros,
       expires_at = excluded.expires_at, rev = excluded.rev, updated_at = now()
     where call_sessions.${OPEN} and call_sessions.rev < excluded.rev`,
    [
      accountId,
      s.callId,
      s.meta.direction,
      s.meta.to,
      s.meta.features,
      s.state,
      s.grantedSeconds,
      s.heldMicros.toString(),
      s.untilMs,
      s.rev,
    ],
  );
  if (rowCount === 1) return { status: "recorded" };
  const state = await callSessionState(pool, accountId, s.callId);
  if (state === "settled" || state === "expired") return { status: "closed", state };
  return { status: "recorded" }; // a newer write of the same open session is there
}

/**
 * Marks an open row settled: its CDR was debited (and settled it in Redis) before the
 * row was written, so the ledger's settling update found no row to settle.
 */
export async function settleCallSession(pool: pg.Pool, accountId: string, callId: string): Promise<void> {
  await pool.query(
    `update call_sessions set state = 'settled', held_micros = 0, updated_at = now()
      where account_id = $1 and call_id = $2 and ${OPEN}`,
    [accountId, callId],
  );
}

export async function callSessionState(
  pool: pg.Pool,
  accountId: string,
  callId: string,
): Promise<CallState | undefined> {
  const { rows } = await pool.query<{ state: CallState }>(
    "select state from call_sessions where account_id = $1 and call_id = $2",
    [accountId, callId],
  );
  return rows[0]?.state;
}

interface SessionRow {
  call_id: string;
  direction: "outbound" | "inbound";
  to_number: string;
  features: string[];
  state: CallState;
  granted_seconds: number;
  held_micros: string;
  until_ms: string;
  rev: string;
}

/** The account's open sessions not yet past their expiry, for a restore (in the caller's transaction). */
export async function openCallSessions(
  db: pg.Pool | pg.PoolClient,
  accountId: string,
): Promise<CallSession[]> {
  const { rows } = await db.query<SessionRow>(
    `select call_id, direction, to_number, features, state, granted_seconds, held_micros,
            (extract(epoch from expires_at) * 1000)::bigint as until_ms, rev
       from call_sessions where account_id = $1 and ${OPEN} and expires_at > now()`,
    [accountId],
  );
  return rows.map((r) => ({
    callId: r.call_id,
    state: r.state,
    grantedSeconds: r.granted_seconds,
    heldMicros: BigInt(r.held_micros),
    untilMs: Number(r.until_ms),
    rev: Number(r.rev),
    meta: { direction: r.direction, to: r.to_number, features: r.features },
  }));
}

/**
 * Marks sessions past their expiry (with a margin for the clocks of Redis and Postgres)
 * expired: Redis already holds nothing for them. Returns how many, by the state they
 * expired in: "active" (neither renewed nor ended in time) or "ended" (their CDR did not
 * come within CALL_CDR_WAIT_SECONDS). One statement per state, so a session cannot be
 * counted under both even if an end lands between them (it moves its expires_at on).
 */
export async function expireCallSessions(
  pool: pg.Pool,
  marginMs = 5_000,
): Promise<Record<"active" | "ended", number>> {
  const expire = async (state: "active" | "ended") =>
    (
      await pool.query(
        `update call_sessions set state = 'expired', held_micros = 0, updated_at = now()
          where state = $1 and expires_at <= now() - make_interval(secs => $2::double precision / 1000)`,
        [state, marginMs],
      )
    ).rowCount ?? 0;
  return { active: await expire("active"), ended: await expire("ended") };
}

export interface SessionTotals {
  open: number;
  heldMicros: bigint;
}

/** Open sessions and their holds across all accounts, by state, for the metrics. */
export async function callSessionTotals(pool: pg.Pool): Promise<Record<"active" | "ended", SessionTotals>> {
  const { rows } = await pool.query<{ state: "active" | "ended"; open: string; held: string }>(
    `select state, count(*) as open, coalesce(sum(held_micros), 0) as held
       from call_sessions where ${OPEN} and expires_at > now() group by state`,
  );
  const totals = {
    active: { open: 0, heldMicros: 0n },
    ended: { open: 0, heldMicros: 0n },
  };
  for (const r of rows) totals[r.state] = { open: Number(r.open), heldMicros: BigInt(r.held) };
  return totals;
}
