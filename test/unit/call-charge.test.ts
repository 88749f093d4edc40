/**
 * Call sessions' pricing (SPEC §8): the charge of d seconds with features is what rating
 * charges a CDR of d seconds whose surcharges last the whole call, and the grant is the
 * longest duration whose charge fits, checked against a brute force over every duration.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DURATION_SECONDS } from "../../src/core/cdr.js";
import {
  callCharge,
  holdSteps,
  longestFitting,
  pickStep,
  type CallPricing,
} from "../../src/core/rating/call-charge.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { cdr, table } from "../support/decks.js";

const FEATURES = ["recording", "barging", "conference"];

const decimal = fc
  .tuple(
    fc.integer({ min: 0, max: 30 }),
    fc.integer({ min: 0, max: 999_999 }),
    fc.integer({ min: 0, max: 6 }),
  )
  .map(([whole, fraction, places]) =>
    places === 0 ? String(whole) : `${whole}.${String(fraction).padStart(6, "0").slice(0, places)}`,
  );

interface Deck {
  rate: string;
  fee: string;
  initial: number;
  subsequent: number;
  features: [string, string][];
}

const deck: fc.Arbitrary<Deck> = fc.record({
  rate: decimal,
  fee: decimal,
  initial: fc.oneof(fc.constantFrom(1, 30, 60), fc.integer({ min: 1, max: 120 })),
  subsequent: fc.oneof(fc.constantFrom(1, 6, 60), fc.integer({ min: 1, max: 60 })),
  features: fc.uniqueArray(fc.tuple(fc.constantFrom(...FEATURES), decimal), {
    selector: ([f]) => f,
    maxLength: 3,
  }),
});

/** The same call as a priced deck (for rateCdr) and as CallPricing. */
function both(d: Deck) {
  const t = table(
    [`44,UK,outbound,${d.rate},${d.fee},${d.initial},${d.subsequent},2020-01-01`],
    d.features.map(([f, r]) => `${f},${r},2020-01-01`),
  );
  const rate = t.rates.outbound.lookup("+442071234567", 1, Date.parse("2026-01-01") * 1000)!;
  const pricing: CallPricing = {
    rate,
    featureRatesMicros: d.features.map(([f]) => t.surcharges.get(f)![0]!.ratePerMinuteMicros),
  };
  const rated = (seconds: number) => {
    const r = rateCdr(
      t,
      cdr({ duration_seconds: seconds, surcharges: d.features.map(([feature]) => ({ feature, seconds })) }),
    );
    if (!r.ok) throw new Error(r.message);
    return r.chargeMicros;
  };
  return { pricing, rated };
}

describe("callCharge", () => {
  it("is what rating charges a CDR of that duration with every feature for the whole call", () => {
    fc.assert(
      fc.property(
        deck,
        fc.oneof(fc.constantFrom(0, 1, 59, 60, 61, 86_400), fc.integer({ min: 0, max: 86_400 })),
        (d, seconds) => {
          const { pricing, rated } = both(d);
          expect(callCharge(pricing, seconds)).toBe(rated(seconds));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("worked example: 0.60/min + 0.05 fee, 30/6, recording 0.02/min, 61 s", () => {
    const pricing: CallPricing = {
      rate: {
        ratePerMinuteMicros: 600_000,
        connectionFeeMicros: 50_000,
        initialIncrement: 30,
        subsequentIncrement: 6,
      },
      featureRatesMicros: [20_000],
    };
    // billed 66 s: 0.05 + 0.66 = 0.71; recording 2 started minutes: 0.04.
    expect(callCharge(pricing, 61)).toBe(750_000n);
    expect(callCharge(pricing, 0)).toBe(0n);
  });
});

describe("the grant", () => {
  it("is the longest duration within the limit whose charge fits, by brute force over every duration", () => {
    fc.assert(
      fc.property(
        deck,
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 1, max: 400 }),
        fc.bigInt({ min: 0n, max: 20_000_000n }),
        (d, granted, quota, credit) => {
          const { pricing } = both(d);
          const limit = Math.min(granted + quota, MAX_DURATION_SECONDS);
          let brute: number | undefined;
          for (let s = granted + 1; s <= limit; s++) if (callCharge(pricing, s) <= credit) brute = s;
          expect(longestFitting(pricing, granted + 1, limit, credit)).toBe(brute);
          // What the Redis script picks from the steps is the same grant, at the same hold.
          const step = pickStep(holdSteps(pricing, granted, limit), credit);
          expect(step?.seconds).toBe(brute);
          if (step) expect(step.holdMicros).toBe(callCharge(pricing, step.seconds));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("steps increase strictly in duration and hold, and end at the limit", () => {
    fc.assert(
      fc.property(
        deck,
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        (d, granted, quota) => {
          const { pricing } = both(d);
          const steps = holdSteps(pricing, granted, granted + quota);
          expect(steps.at(-1)!.seconds).toBe(granted + quota);
          for (let i = 1; i < steps.length; i++) {
            expect(steps[i]!.seconds).toBeGreaterThan(steps[i - 1]!.seconds);
            expect(steps[i]!.holdMicros).toBeGreaterThan(steps[i - 1]!.holdMicros);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("never passes 86,400 s", () => {
    const pricing: CallPricing = {
      rate: { ratePerMinuteMicros: 0, connectionFeeMicros: 0, initialIncrement: 60, subsequentIncrement: 60 },
      featureRatesMicros: [],
    };
    expect(holdSteps(pricing, 86_300, 86_600)).toEqual([{ seconds: 86_400, holdMicros: 0n }]);
    expect(holdSteps(pricing, 86_400, 86_700)).toEqual([]);
  });
});
