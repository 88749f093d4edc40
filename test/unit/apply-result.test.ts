import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatApplyResult,
  parseApplyResult,
  toApplied,
  type ApplyResult,
  type EncodedEvent,
} from "../../src/adapters/redis/apply-result.js";
import { BALANCE_EVENT_TYPES, type EntryRequest } from "../../src/balances/types.js";

const debit: EntryRequest = {
  accountId: "a",
  key: "cdr:c-1",
  kind: "call",
  amountMicros: -3_000_000n,
  cause: "c-1",
  cdrId: "c-1",
};

describe("apply-2n.lua's result codec", () => {
  it("reads an entry with a crossing, an offline reload and the month's cap", () => {
    const text =
      "7,5500000,2500000;8,2500000,52500000|low_balance,2500000,,0;offline_reloaded,52500000,50000000,1;auto_recharge_capped,52500000,50000000,o2026-11";
    const parsed = parseApplyResult(text);
    expect(parsed).toEqual({
      outcome: "applied",
      booked: [
        { seq: 7n, beforeMicros: 5_500_000n, afterMicros: 2_500_000n },
        { seq: 8n, beforeMicros: 2_500_000n, afterMicros: 52_500_000n },
      ],
      settledCall: false,
      events: [
        { type: "low_balance", balanceMicros: 2_500_000n, amountMicros: null, cause: { entry: 0 } },
        {
          type: "offline_reloaded",
          balanceMicros: 52_500_000n,
          amountMicros: 50_000_000n,
          cause: { entry: 1 },
        },
        {
          type: "auto_recharge_capped",
          balanceMicros: 52_500_000n,
          amountMicros: 50_000_000n,
          cause: { offlineCapMonth: "2026-11" },
        },
      ],
    });
    expect(formatApplyResult(parsed)).toBe(text);
  });

  it("reads a stored (replayed) result with its time, a settled session and no events", () => {
    const parsed = parseApplyResult("1,-5,-12,1||1764466800123");
    expect(parsed).toEqual({
      outcome: "applied",
      booked: [{ seq: 1n, beforeMicros: -5n, afterMicros: -12n }],
      settledCall: true,
      events: [],
      appliedAtMs: 1764466800123,
    });
    expect(formatApplyResult(parsed)).toBe("1,-5,-12,1||1764466800123");
  });

  it("reads refusals, and a floor refusal written before holds existed", () => {
    expect(parseApplyResult("!range")).toEqual({ outcome: "refused", refused: "range" });
    expect(parseApplyResult("!floor,1999999,500000")).toEqual({
      outcome: "refused",
      refused: "floor",
      balanceMicros: 1_999_999n,
      heldMicros: 500_000n,
    });
    expect(parseApplyResult("!floor,3")).toMatchObject({ balanceMicros: 3n, heldMicros: 0n });
  });

  it("refuses what the script never writes, naming the part at fault", () => {
    expect(() => parseApplyResult("1,2,x|")).toThrow(/after "x" is not an integer/);
    expect(() => parseApplyResult("1,2,3")).toThrow(/expected "<booked>\|<events>/);
    expect(() => parseApplyResult("1,2,3|low_balance,1,,4")).toThrow(/names no booked entry/);
    expect(() => parseApplyResult("1,2,3;4,3,5,1|")).toThrow(/bad booked entry "4,3,5,1"/);
    expect(() => parseApplyResult("1,2,3|a,b|5|6")).toThrow(/expected/);
  });

  it("formats and parses back every result (property)", () => {
    const micros = fc.bigInt({ min: -(2n ** 53n - 1n), max: 2n ** 53n - 1n });
    const month = fc.constantFrom("2026-01", "2026-11", "2027-12");
    const applied = fc
      .record({
        booked: fc.array(
          fc.record({
            seq: fc.bigInt({ min: 1n, max: 2n ** 40n }),
            beforeMicros: micros,
            afterMicros: micros,
          }),
          {
            minLength: 1,
            maxLength: 11,
          },
        ),
        settledCall: fc.boolean(),
        appliedAtMs: fc.option(fc.nat(), { nil: undefined }),
      })
      .chain((r) =>
        fc
          .array(
            fc.record({
              type: fc.constantFrom(...BALANCE_EVENT_TYPES),
              balanceMicros: micros,
              amountMicros: fc.option(micros, { nil: null }),
              cause: fc.oneof(
                fc.nat({ max: r.booked.length - 1 }).map((entry) => ({ entry })),
                month.map((capMonth) => ({ capMonth })),
                month.map((offlineCapMonth) => ({ offlineCapMonth })),
              ),
            }) as fc.Arbitrary<EncodedEvent>,
            { maxLength: 6 },
          )
          .map((events): ApplyResult => {
            const { appliedAtMs, ...rest } = r;
            return {
              outcome: "applied",
              ...rest,
              events,
              ...(appliedAtMs === undefined ? {} : { appliedAtMs }),
            };
          }),
      );
    const refused = fc.oneof(
      fc.constant<ApplyResult>({ outcome: "refused", refused: "range" }),
      fc
        .record({ balanceMicros: micros, heldMicros: micros })
        .map((r): ApplyResult => ({ outcome: "refused", refused: "floor", ...r })),
    );
    fc.assert(
      fc.property(fc.oneof(applied, refused), (result) => {
        expect(parseApplyResult(formatApplyResult(result))).toEqual(result);
      }),
    );
  });

  it("gives reloads keys derived from the request's key and events their origin", () => {
    const result = parseApplyResult(
      "4,2500000,1000000;5,1000000,11000000|blocked,1000000,,0;unblocked,11000000,,1;offline_reloaded,11000000,10000000,1;auto_recharge_capped,11000000,5000000,m2026-11",
    );
    const applied = toApplied("a", debit, result);
    expect(
      "entries" in applied && applied.entries.map((e) => [e.key, e.kind, e.amountMicros, e.cause]),
    ).toEqual([
      ["cdr:c-1", "call", -1_500_000n, "c-1"],
      ["reload:cdr:c-1:1", "offline_reload", 10_000_000n, "reload:cdr:c-1:1"],
    ]);
    expect("events" in applied && applied.events.map((e) => [e.type, e.cause, e.origin])).toEqual([
      ["blocked", "c-1", "cdr:c-1"],
      ["unblocked", "reload:cdr:c-1:1", "reload:cdr:c-1:1"],
      ["offline_reloaded", "reload:cdr:c-1:1", "reload:cdr:c-1:1"],
      ["auto_recharge_capped", "2026-11", "2026-11"],
    ]);
  });

  it("puts the event a request announces first, and keeps refusals' numbers", () => {
    const recharge: EntryRequest = {
      accountId: "a",
      key: "recharge:pi_1",
      kind: "auto_recharge",
      amountMicros: 25_000_000n,
      cause: "pi_1",
      announces: "recharged",
    };
    const applied = toApplied("a", recharge, parseApplyResult("3,1000000,26000000|unblocked,26000000,,0"));
    expect(
      "events" in applied && applied.events.map((e) => [e.type, e.balanceMicros, e.amountMicros]),
    ).toEqual([
      ["recharged", 26_000_000n, 25_000_000n],
      ["unblocked", 26_000_000n, null],
    ]);
    expect(toApplied("a", debit, parseApplyResult("!floor,2100000,300000"))).toEqual({
      request: debit,
      refused: "floor",
      balanceMicros: 2_100_000n,
      heldMicros: 300_000n,
    });
  });
});
