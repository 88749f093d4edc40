/**
 * apply-2n.lua as a pure function over the same two hashes (the account's state and its
 * pending results), deciding with the rules of src/core/balance-rules.ts and writing
 * results with the codec of src/adapters/redis/apply-result.ts. The in-memory balance
 * store runs on it, and test/integration/balance-scripts.test.ts checks, on the real
 * Redis, that the script returns and stores exactly what it does.
 */
import { formatApplyResult, type EncodedEvent } from "../../src/adapters/redis/apply-result.js";
import {
  countingMonth,
  crossings,
  MAX_OFFLINE_RELOADS_PER_ENTRY,
  requestsOnlineRecharge,
  startsOfflineReload,
} from "../../src/core/balance-rules.js";
import { MAX_EXACT_MICROS } from "../../src/core/money.js";

/** A Redis hash: field → value. */
export type Hash = Map<string, string>;

export interface ModelEntry {
  key: string;
  amountMicros: bigint;
  kind: string;
  floorMicros?: bigint;
}

/** How long a settled session's record stays (apply-2n.lua's SETTLED_KEEP_MS). */
const SETTLED_KEEP_MS = 3_600_000;
const SESSION = /^(\w+),(\d+),(\d+),(\d+),(\d+)\|(.*)$/s;

const int = (v: string | undefined): bigint => (v !== undefined && /^-?\d+$/.test(v) ? BigInt(v) : 0n);

/**
 * Applies one account's entries as apply-2n.lua does: the result string per entry, or
 * "missing" when the state hash is empty. Mutates `state` and `pending`.
 */
export function applyModel(
  state: Hash,
  pending: Hash,
  entries: ModelEntry[],
  requestedMonth: string,
  nowMs: number,
): string[] | "missing" {
  if (!state.has("balance")) return "missing";
  let balance = int(state.get("balance"));
  let seq = int(state.get("seq"));
  let openCalls = Number(int(state.get("open_calls")));
  const auto = state.get("auto");
  let autoAmount = 0n;
  let autoLimit = 0n;
  let offReload = 0n;
  let offThreshold = 0n;
  let offMax = 0n;
  let mtdAuto = 0n;
  let mtdOff = 0n;
  let cappedAuto = "";
  let cappedOff = "";
  let monthChanged = false;
  let month = requestedMonth;
  if (auto !== "none") {
    autoAmount = int(state.get("auto_amount"));
    autoLimit = int(state.get("auto_limit"));
    offReload = int(state.get("off_reload"));
    offThreshold = int(state.get("off_threshold"));
    offMax = int(state.get("off_max"));
    mtdAuto = int(state.get("mtd_auto"));
    mtdOff = int(state.get("mtd_off"));
    cappedAuto = state.get("capped_auto") ?? "";
    cappedOff = state.get("capped_off") ?? "";
    const held = state.get("mtd_month");
    month = countingMonth(requestedMonth, held);
    if (held !== month) {
      mtdAuto = 0n;
      mtdOff = 0n;
      monthChanged = true;
    }
  }

  const session = (field: string) => {
    const m = SESSION.exec(state.get(field) ?? "");
    return (
      m && {
        state: m[1]!,
        granted: m[2]!,
        hold: BigInt(m[3]!),
        until: Number(m[4]!),
        rev: Number(m[5]!),
        meta: m[6]!,
      }
    );
  };
  const isOpen = (s: ReturnType<typeof session>) =>
    s !== null && (s.state === "active" || s.state === "ended") && s.until > nowMs;
  const held = (): bigint => {
    if (openCalls <= 0) return 0n;
    let total = 0n;
    for (const field of state.keys()) {
      const s = field.startsWith("c:") ? session(field) : null;
      if (isOpen(s)) total += s!.hold;
    }
    return total;
  };

  // The stored results are read once, before any entry is applied (one HMGET): a key
  // twice in one call is applied twice (the write path never sends one so).
  const stored = entries.map((e) => pending.get(e.key));
  const results: string[] = [];
  for (const [i, entry] of entries.entries()) {
    const previous = stored[i];
    const holds = entry.floorMicros !== undefined ? held() : 0n;
    const after = balance + entry.amountMicros;
    if (previous !== undefined) {
      results.push(previous);
      continue;
    }
    if (after > MAX_EXACT_MICROS || after < -MAX_EXACT_MICROS) {
      results.push(formatApplyResult({ outcome: "refused", refused: "range" }));
      continue;
    }
    if (entry.floorMicros !== undefined && after - holds < entry.floorMicros) {
      results.push(
        formatApplyResult({
          outcome: "refused",
          refused: "floor",
          balanceMicros: balance,
          heldMicros: holds,
        }),
      );
      continue;
    }
    const booked: { seq: bigint; beforeMicros: bigint; afterMicros: bigint }[] = [];
    const events: EncodedEvent[] = [];
    const book = (amount: bigint, cause: number) => {
      seq += 1n;
      const before = balance;
      balance += amount;
      booked.push({ seq, beforeMicros: before, afterMicros: balance });
      for (const type of crossings(before, balance)) {
        events.push({ type, balanceMicros: balance, amountMicros: null, cause: { entry: cause } });
      }
      return before;
    };
    const before = book(entry.amountMicros, 0);

    let settledCall = false;
    if (openCalls > 0 && entry.kind === "call" && entry.key.startsWith("cdr:")) {
      const field = `c:${entry.key.slice(4)}`;
      const s = session(field);
      if (isOpen(s)) {
        openCalls -= 1;
        state.set(field, `settled,${s!.granted},0,${nowMs + SETTLED_KEEP_MS},${s!.rev + 1}|${s!.meta}`);
        state.set("open_calls", String(openCalls));
        settledCall = true;
      }
    }

    if (auto === "online" && requestsOnlineRecharge(before, balance, entry.kind)) {
      if (autoAmount > 0n) {
        monthChanged = true;
        if (autoLimit > 0n && mtdAuto + autoAmount > autoLimit) {
          if (cappedAuto !== month) {
            cappedAuto = month;
            events.push(capEvent(balance, autoAmount, { capMonth: month }));
          }
        } else {
          mtdAuto += autoAmount;
          events.push({
            type: "auto_recharge_requested",
            balanceMicros: balance,
            amountMicros: autoAmount,
            cause: { entry: 0 },
          });
        }
      }
    } else if (auto === "offline" && startsOfflineReload(before, balance, offThreshold)) {
      monthChanged = true;
      for (
        let n = 1;
        balance <= offThreshold &&
        n <= MAX_OFFLINE_RELOADS_PER_ENTRY &&
        balance + offReload <= MAX_EXACT_MICROS;
        n++
      ) {
        if (offMax > 0n && mtdOff + offReload > offMax) {
          if (cappedOff !== month) {
            cappedOff = month;
            events.push(capEvent(balance, offReload, { offlineCapMonth: month }));
          }
          break;
        }
        mtdOff += offReload;
        book(offReload, n);
        events.push({
          type: "offline_reloaded",
          balanceMicros: balance,
          amountMicros: offReload,
          cause: { entry: n },
        });
      }
    }
    const encoded = formatApplyResult({ outcome: "applied", booked, settledCall, events });
    results.push(encoded);
    pending.set(entry.key, `${encoded}|${nowMs}`);
  }

  state.set("balance", balance.toString());
  state.set("seq", seq.toString());
  if (monthChanged) {
    state.set("mtd_month", month);
    state.set("mtd_auto", mtdAuto.toString());
    state.set("mtd_off", mtdOff.toString());
    state.set("capped_auto", cappedAuto);
    state.set("capped_off", cappedOff);
  }
  return results;
}

function capEvent(balance: bigint, amount: bigint, cause: EncodedEvent["cause"]): EncodedEvent {
  return { type: "auto_recharge_capped", balanceMicros: balance, amountMicros: amount, cause };
}
