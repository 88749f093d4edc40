/**
 * Property: over random decks and CDRs, the fast path (CSV parsing, trie, integer
 * arithmetic) agrees with the decimal.js reference on every field.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateCdr } from "../../src/core/cdr.js";
import { parseRateDeck } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { buildRateTable } from "../../src/core/rating/rate-table.js";
import {
  referenceRate,
  type RefCdr,
  type RefRateRow,
  type RefSurchargeRow,
} from "../reference/reference-rater.js";
import { rateDeck, surchargeDeck } from "../support/decks.js";

const FEATURES = ["recording", "barging", "conference", "sip_phone"];
const DATES = ["2026-01-01", "2026-06-01T12:30:00Z", "2026-11-15T00:00:00.001Z", "2027-01-01T00:00:00+02:00"];

const decimal = fc
  .tuple(
    fc.integer({ min: 0, max: 2_000 }),
    fc.integer({ min: 0, max: 999_999 }),
    fc.integer({ min: 0, max: 6 }),
  )
  .map(([whole, fraction, places]) =>
    places === 0 ? String(whole) : `${whole}.${String(fraction).padStart(6, "0").slice(0, places)}`,
  );

const digits = (min: number, max: number) =>
  fc.array(fc.constantFrom("1", "2", "3"), { minLength: min, maxLength: max }).map((d) => d.join(""));

const rateRow: fc.Arbitrary<RefRateRow> = fc.record({
  prefix: digits(1, 4),
  direction: fc.constantFrom("outbound" as const, "inbound" as const),
  rate_per_minute: decimal,
  connection_fee: decimal,
  initial_increment: fc.integer({ min: 1, max: 120 }),
  subsequent_increment: fc.integer({ min: 1, max: 60 }),
  effective_from: fc.constantFrom(...DATES),
});

const surchargeRow: fc.Arbitrary<RefSurchargeRow> = fc.record({
  feature: fc.constantFrom(...FEATURES),
  rate_per_minute: decimal,
  effective_from: fc.constantFrom(...DATES),
});

/** Instants near the deck's boundaries (±1 ms) and anywhere in between, written with varied offsets. */
const answeredAt = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...DATES.map((d) => Date.parse(d))).chain((t) => fc.constantFrom(t - 1, t, t + 1)),
      fc.integer({ min: Date.parse("2025-12-01"), max: Date.parse("2027-03-01") }),
    ),
    fc.constantFrom(0, 60, -300, 330, 840),
  )
  .map(([ms, offsetMinutes]) => {
    const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 23);
    if (offsetMinutes === 0) return `${local}Z`;
    const abs = Math.abs(offsetMinutes);
    const hh = String(Math.floor(abs / 60)).padStart(2, "0");
    const mm = String(abs % 60).padStart(2, "0");
    return `${local}${offsetMinutes < 0 ? "-" : "+"}${hh}:${mm}`;
  });

const cdr: fc.Arbitrary<RefCdr> = fc.record({
  direction: fc.constantFrom("outbound" as const, "inbound" as const),
  to: digits(1, 15).map((d) => `+${d}`),
  answered_at: answeredAt,
  duration_seconds: fc.oneof(fc.constantFrom(0, 1, 59, 60, 61, 86_400), fc.integer({ min: 0, max: 86_400 })),
  surcharges: fc.uniqueArray(
    fc.record({ feature: fc.constantFrom(...FEATURES), seconds: fc.integer({ min: 0, max: 86_400 }) }),
    { selector: (s) => s.feature, maxLength: 3 },
  ),
});

const rateCsv = (r: RefRateRow) =>
  [
    r.prefix,
    "dest",
    r.direction,
    r.rate_per_minute,
    r.connection_fee,
    r.initial_increment,
    r.subsequent_increment,
    r.effective_from,
  ].join(",");

describe("fast path agrees with the decimal.js reference", () => {
  it("on random decks and CDRs", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(rateRow, {
          minLength: 1,
          maxLength: 25,
          selector: (r) => `${r.prefix}|${r.direction}|${Date.parse(r.effective_from)}`,
        }),
        fc.option(
          fc.uniqueArray(surchargeRow, {
            maxLength: 8,
            selector: (s) => `${s.feature}|${Date.parse(s.effective_from)}`,
          }),
          { nil: undefined },
        ),
        fc.array(cdr, { minLength: 1, maxLength: 20 }),
        (rates, surcharges, cdrs) => {
          const table = buildRateTable({
            rates: parseRateDeck(rateDeck(...rates.map(rateCsv)), "rates.csv"),
            surcharges:
              surcharges === undefined
                ? undefined
                : parseSurchargeDeck(
                    surchargeDeck(
                      ...surcharges.map((s) => `${s.feature},${s.rate_per_minute},${s.effective_from}`),
                    ),
                    "s.csv",
                  ),
          });
          for (const c of cdrs) {
            const decoded = validateCdr({ cdr_id: "c", account_id: "a", from: "+1", ...c });
            if (!decoded.ok) throw new Error(decoded.error.message);
            const fast = rateCdr(table, decoded.cdr);
            const expected = referenceRate(rates, surcharges, c);
            if ("no_rate" in expected) {
              expect(fast.ok).toBe(false);
            } else {
              expect(fast.ok).toBe(true);
              if (!fast.ok) return;
              expect({
                charge_micros: fast.chargeMicros.toString(),
                billed_seconds: fast.billedSeconds,
                prefix: fast.rate.prefix,
                effective_from_ms: fast.rate.effectiveFromMicros / 1000,
              }).toEqual(expected);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
