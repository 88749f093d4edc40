/**
 * apply-2n.lua on the real Redis against the pure model of the balance rules
 * (test/support/balance-model.ts, on src/core/balance-rules.ts), as the reference rater
 * checks rating: random account states (balances at and around the thresholds, every
 * auto-recharge mode, month-to-date counts of this month and others, open and expired
 * call sessions) and random batches (replays, floors, the exact range, month changes).
 * Each batch must return the same result strings and leave the same state hash and
 * pending results; Redis's clock is only in the stamps and a settled session's expiry,
 * which are compared without it.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { accountKeys } from "../../src/adapters/redis/keys.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import { defineBalanceScripts } from "../../src/adapters/redis/scripts.js";
import { ENTRY_KINDS } from "../../src/balances/types.js";
import { scriptThresholds } from "../../src/core/balance-rules.js";
import { MAX_EXACT_MICROS } from "../../src/core/money.js";
import { applyModel, type Hash, type ModelEntry } from "../support/balance-model.js";
import { config, uniqueName } from "../support/services.js";

const redis = defineBalanceScripts(connectRedis(config.redisUrl));
afterAll(() => redis.disconnect());

const MONTHS = ["2026-10", "2026-11", "2026-12"] as const;
const FAR_FUTURE_MS = 4_000_000_000_000;

const micros = (values: bigint[], min: bigint, max: bigint) =>
  fc.oneof(fc.constantFrom(...values), fc.bigInt({ min, max }));
const around = [-1_000_000n, 0n, 1_999_999n, 2_000_000n, 2_000_001n, 4_999_999n, 5_000_000n, 5_000_001n];

const session = fc.record({
  state: fc.constantFrom("active", "ended", "settled"),
  hold: fc.bigInt({ min: 0n, max: 3_000_000n }),
  expired: fc.boolean(),
});

const accountState = fc
  .record({
    balance: micros([...around, MAX_EXACT_MICROS - 5n, -MAX_EXACT_MICROS + 5n], -5_000_000n, 60_000_000n),
    seq: fc.bigInt({ min: 0n, max: 20n }),
    auto: fc.constantFrom("none", "online", "offline"),
    autoAmount: fc.constantFrom(0n, 5_000_000n, 25_000_000n),
    autoLimit: fc.constantFrom(0n, 30_000_000n, 50_000_000n),
    offReload: fc.constantFrom(1_000_000n, 10_000_000n, 50_000_000n),
    offThreshold: fc.constantFrom(0n, 3_000_000n, 20_000_000n),
    offMax: fc.constantFrom(0n, 20_000_000n, 100_000_000n),
    mtdMonth: fc.option(fc.constantFrom(...MONTHS), { nil: undefined }),
    mtdAuto: fc.constantFrom(0n, 25_000_000n),
    mtdOff: fc.constantFrom(0n, 10_000_000n),
    cappedAuto: fc.constantFrom("", ...MONTHS),
    cappedOff: fc.constantFrom("", ...MONTHS),
    sessions: fc.array(session, { maxLength: 2 }),
  })
  .map((s): Hash => {
    const h: Hash = new Map([
      ["balance", s.balance.toString()],
      ["seq", s.seq.toString()],
      ["settings_version", "1"],
      ["auto", s.auto],
      ["auto_amount", s.autoAmount.toString()],
      ["auto_limit", s.autoLimit.toString()],
      ["off_reload", s.offReload.toString()],
      ["off_threshold", s.offThreshold.toString()],
      ["off_max", s.offMax.toString()],
      ["capped_auto", s.cappedAuto],
      ["capped_off", s.cappedOff],
      ["mtd_auto", s.mtdAuto.toString()],
      ["mtd_off", s.mtdOff.toString()],
    ]);
    if (s.mtdMonth !== undefined) h.set("mtd_month", s.mtdMonth);
    s.sessions.forEach((c, i) => {
      const until = c.expired ? 1_000 : FAR_FUTURE_MS;
      h.set(`c:k${i + 1}`, `${c.state},60,${c.hold},${until},1|["outbound","+15550100",[]]`);
    });
    h.set("open_calls", String(s.sessions.filter((c) => c.state !== "settled").length));
    return h;
  });

const modelEntry: fc.Arbitrary<ModelEntry> = fc.record(
  {
    key: fc.constantFrom("cdr:k1", "cdr:k2", "cdr:k3", "credit:1", "credit:2", "adjust:3"),
    amountMicros: micros(
      [...around, -around[3]!, -around[6]!, MAX_EXACT_MICROS, -MAX_EXACT_MICROS],
      -8_000_000n,
      30_000_000n,
    ),
    kind: fc.constantFrom(...ENTRY_KINDS),
    floorMicros: fc.constantFrom(0n, 2_000_000n, 5_000_000n),
  },
  { requiredKeys: ["key", "amountMicros", "kind"] },
);
const batches = fc.array(
  fc.record({
    month: fc.constantFrom(...MONTHS),
    entries: fc.array(modelEntry, { minLength: 1, maxLength: 6 }),
  }),
  { minLength: 1, maxLength: 4 },
);

/** A result or stored value without Redis's clock (its "|<ms>" stamp). */
const unstamped = (v: string) => v.replace(/^([^|]*\|[^|]*)\|\d+$/, "$1");
/** The state hash without a settled session's expiry (Redis's clock + 1 h). */
function comparable(h: Hash | Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of h instanceof Map ? h : Object.entries(h)) {
    out[k] = k.startsWith("c:") && v.startsWith("settled,") ? v.replace(/^(settled,\d+,\d+,)\d+/, "$1*") : v;
  }
  return out;
}

describe("apply-2n.lua against the balance rules", () => {
  it("returns and stores what the pure model does, for random states and batches", async () => {
    await fc.assert(
      fc.asyncProperty(accountState, batches, async (initial, runs) => {
        const keys = accountKeys(uniqueName("prop"));
        const state = new Map(initial);
        const pending: Hash = new Map();
        await redis.hset(keys.state, Object.fromEntries(state));
        try {
          for (const { month, entries } of runs) {
            const args = [month, scriptThresholds.low, scriptThresholds.block, String(entries.length)];
            for (const e of entries)
              args.push(e.key, e.amountMicros.toString(), e.kind, e.floorMicros?.toString() ?? "");
            const [reply] = await redis.rs1_apply_one(keys.state, keys.pending, args);
            const expected = applyModel(state, pending, entries, month, Date.now());
            expect((reply as string[]).map(unstamped)).toEqual((expected as string[]).map(unstamped));
            expect(comparable(await redis.hgetall(keys.state))).toEqual(comparable(state));
            const stored = await redis.hgetall(keys.pending);
            expect(Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, unstamped(v)]))).toEqual(
              Object.fromEntries([...pending].map(([k, v]) => [k, unstamped(v)])),
            );
          }
        } finally {
          await redis.del(keys.state, keys.pending);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("reports a missing account as the model does", async () => {
    const keys = accountKeys(uniqueName("prop"));
    const args = [
      MONTHS[1],
      scriptThresholds.low,
      scriptThresholds.block,
      "1",
      "credit:1",
      "5",
      "credit",
      "",
    ];
    expect(await redis.rs1_apply_one(keys.state, keys.pending, args)).toEqual([-1]);
    expect(
      applyModel(new Map(), new Map(), [{ key: "credit:1", amountMicros: 5n, kind: "credit" }], MONTHS[1], 0),
    ).toBe("missing");
  });
});
