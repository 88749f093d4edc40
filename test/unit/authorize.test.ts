import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { billedSeconds } from "../../src/core/rating/billing.js";
import { authorizeCall, chargeForBilled, type CallRate } from "../../src/core/rating/authorize.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { cdr, table } from "../support/decks.js";

const M = 1_000_000n;
const perMinute = (rateMicros: number, fee = 0, initial = 60, subsequent = 60): CallRate => ({
  ratePerMinuteMicros: rateMicros,
  connectionFeeMicros: fee,
  initialIncrement: initial,
  subsequentIncrement: subsequent,
});

describe("authorizeCall", () => {
  it("a balance of exactly 2.00 is not blocked, but has no credit above 2.00 for a priced call", () => {
    expect(authorizeCall(perMinute(100_000), 2n * M)).toEqual({
      allowed: false,
      reason: "insufficient_credit",
      maxDurationSeconds: 0,
    });
    // A free call needs no credit: allowed for the whole day.
    expect(authorizeCall(perMinute(0), 2n * M)).toEqual({
      allowed: true,
      reason: "ok",
      maxDurationSeconds: 86_400,
    });
  });

  it("below 2.00 is blocked, whatever the rate", () => {
    expect(authorizeCall(perMinute(0), 2n * M - 1n).reason).toBe("blocked");
    expect(authorizeCall(undefined, 1n * M).reason).toBe("blocked");
  });

  it("no rate row: no_rate", () => {
    expect(authorizeCall(undefined, 10n * M)).toEqual({
      allowed: false,
      reason: "no_rate",
      maxDurationSeconds: 0,
    });
  });

  it("allowed exactly when the credit above 2.00 covers the first increment", () => {
    // 0.10/min, 60/60: the first minute costs 0.10.
    expect(authorizeCall(perMinute(100_000), 2_100_000n)).toEqual({
      allowed: true,
      reason: "ok",
      maxDurationSeconds: 60,
    });
    expect(authorizeCall(perMinute(100_000), 2_099_999n).reason).toBe("insufficient_credit");
  });

  it("counts the holds of open call sessions as credit already promised, never as a block", () => {
    // 3.00: 1.00 above 2.00, of which 0.70 is held: three minutes at 0.10.
    expect(authorizeCall(perMinute(100_000), 3n * M, 700_000n).maxDurationSeconds).toBe(180);
    // Held past the balance: not blocked (the balance is above 2.00), but no credit left.
    expect(authorizeCall(perMinute(100_000), 3n * M, 5n * M).reason).toBe("insufficient_credit");
    expect(authorizeCall(perMinute(0), 3n * M, 5n * M).reason).toBe("insufficient_credit");
    expect(authorizeCall(undefined, 3n * M, 5n * M).reason).toBe("no_rate");
  });

  it("max duration ends a billing step and the connection fee counts", () => {
    // 0.60/min in 30/6 steps with a 0.05 fee: 3.00 of credit → fee 0.05 + 0.01/s × 295 s = 2.95.
    expect(authorizeCall(perMinute(600_000, 50_000, 30, 6), 5n * M).maxDurationSeconds).toBe(294);
    // Capped at a day.
    expect(authorizeCall(perMinute(1), 1_000n * M).maxDurationSeconds).toBe(86_400);
  });

  it("charges like the rater (half-up once, fee included)", () => {
    const t = table(["44,UK,outbound,0.123457,0.000001,30,6,2026-01-01"]);
    const row = t.rates.outbound.lookup("+442071234567", 1, Date.UTC(2026, 5, 1) * 1000)!;
    for (const d of [1, 29, 30, 31, 125, 3601]) {
      const rated = rateCdr(t, cdr({ duration_seconds: d, surcharges: [] }));
      expect(rated.ok && rated.chargeMicros).toBe(chargeForBilled(row, billedSeconds(d, 30, 6)));
    }
  });

  it("agrees with a brute force over every duration", () => {
    const rates = fc.record({
      ratePerMinuteMicros: fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 50 })),
      connectionFeeMicros: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 500_000 })),
      initialIncrement: fc.oneof(fc.constantFrom(1, 6, 30, 60), fc.integer({ min: 1, max: 86_400 })),
      subsequentIncrement: fc.oneof(fc.constantFrom(1, 6, 60), fc.integer({ min: 1, max: 3_600 })),
    });
    const balances = fc.oneof(
      fc.bigInt({ min: 0n, max: 10n * M }),
      fc.bigInt({ min: 2n * M - 5n, max: 2n * M + 5n }),
      fc.bigInt({ min: 0n, max: 5_000n * M }),
    );
    fc.assert(
      fc.property(rates, balances, (rate, balance) => {
        const got = authorizeCall(rate, balance);
        const charge = (d: number) =>
          chargeForBilled(rate, billedSeconds(d, rate.initialIncrement, rate.subsequentIncrement));
        let longest = 0;
        for (let d = 1; d <= 86_400; d++) if (balance - charge(d) >= 2n * M) longest = d;
        if (balance < 2n * M) {
          expect(got.reason).toBe("blocked");
          return;
        }
        const firstOk = balance - charge(rate.initialIncrement) >= 2n * M;
        expect(got.allowed).toBe(firstOk);
        expect(got.reason).toBe(firstOk ? "ok" : "insufficient_credit");
        expect(got.maxDurationSeconds).toBe(firstOk ? longest : 0);
      }),
      { numRuns: 150 },
    );
  }, 60_000); // a brute force over 86,400 s per case: give a loaded machine time
});
