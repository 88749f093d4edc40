/** Every rating rule of SPEC §2-§3 and its edges, one table row each. */
import { describe, expect, it } from "vitest";
import { billedSeconds, surchargeBilledSeconds } from "../../src/core/rating/billing.js";
import { rateCdr, roundHalfUpDiv60, type Rated } from "../../src/core/rating/rate.js";
import { cdr, table } from "../support/decks.js";

function rated(outcome: ReturnType<typeof rateCdr>): Rated {
  if (!outcome.ok) throw new Error(`expected a rating, got ${outcome.message}`);
  return outcome;
}

describe("billed seconds", () => {
  it.each([
    // duration, initial, subsequent, billed
    [0, 60, 60, 0],
    [1, 60, 60, 60],
    [59, 60, 60, 60],
    [60, 60, 60, 60],
    [61, 60, 60, 120],
    [1, 30, 6, 30],
    [30, 30, 6, 30],
    [31, 30, 6, 36],
    [36, 30, 6, 36],
    [37, 30, 6, 42],
    [1, 1, 1, 1],
    [125, 1, 1, 125],
    [86_400, 60, 60, 86_400],
    [86_400, 30, 7, 30 + Math.ceil((86_400 - 30) / 7) * 7],
    [86_400, 1, 1, 86_400],
  ])("duration %i with %i/%i bills %i seconds", (duration, initial, subsequent, billed) => {
    expect(billedSeconds(duration, initial, subsequent)).toBe(billed);
  });

  it.each([
    [0, 0],
    [1, 60],
    [60, 60],
    [61, 120],
    [125, 180],
    [100_000, 100_020],
  ])("a surcharge of %i seconds bills %i (per started minute)", (seconds, billed) => {
    expect(surchargeBilledSeconds(seconds)).toBe(billed);
  });
});

describe("prefix and effective date", () => {
  const deck = table([
    "44,UK,outbound,0.015,0,60,60,2026-01-01",
    "4420,London,outbound,0.012,0,60,60,2026-01-01",
    "442071,London central,outbound,0.010,0,60,60,2027-01-01",
    "447,UK mobile,outbound,0.045,0,60,60,2026-01-01",
    "447,UK mobile,outbound,0.039,0,60,60,2026-12-01T00:00:00Z",
    "44,UK local number,inbound,0.005,0,60,60,2026-01-01",
  ]);

  it("takes the longest prefix that the number starts with", () => {
    const r = rated(rateCdr(deck, cdr({ to: "+442079999999", duration_seconds: 60 })));
    expect(r.rate.prefix).toBe("4420");
    expect(r.chargeMicros).toBe(12_000n);
  });

  it("falls back to a shorter prefix when a longer one is not yet in force", () => {
    const r = rated(rateCdr(deck, cdr({ to: "+442071234567", duration_seconds: 60 })));
    expect(r.rate.prefix).toBe("4420");
    const later = rated(
      rateCdr(deck, cdr({ to: "+442071234567", answered_at: "2027-01-01T00:00:00Z", duration_seconds: 60 })),
    );
    expect(later.rate.prefix).toBe("442071");
  });

  it("switches to a new row at the exact instant it takes effect, not a microsecond before", () => {
    const before = rated(
      rateCdr(
        deck,
        cdr({ to: "+447700900123", answered_at: "2026-11-30T23:59:59.999999Z", duration_seconds: 60 }),
      ),
    );
    const at = rated(
      rateCdr(deck, cdr({ to: "+447700900123", answered_at: "2026-12-01T00:00:00Z", duration_seconds: 60 })),
    );
    expect(before.chargeMicros).toBe(45_000n);
    expect(at.chargeMicros).toBe(39_000n);
    expect(at.rate.line).toBe(6);
  });

  it("reads answered_at offsets as the instant they name", () => {
    // 2026-12-01T01:00:00+01:00 is exactly midnight UTC: the new row applies.
    const r = rated(
      rateCdr(
        deck,
        cdr({ to: "+447700900123", answered_at: "2026-12-01T01:00:00+01:00", duration_seconds: 60 }),
      ),
    );
    expect(r.chargeMicros).toBe(39_000n);
    const r2 = rated(
      rateCdr(
        deck,
        cdr({ to: "+447700900123", answered_at: "2026-11-30T19:59:59-04:00", duration_seconds: 60 }),
      ),
    );
    expect(r2.chargeMicros).toBe(45_000n);
  });

  it("rates by direction: an inbound CDR uses inbound rows for the `to` number", () => {
    const r = rated(rateCdr(deck, cdr({ direction: "inbound", to: "+442071234567", duration_seconds: 60 })));
    expect(r.rate.prefix).toBe("44");
    expect(r.chargeMicros).toBe(5_000n);
  });

  it.each([
    ["no prefix matches", { to: "+99912345" }, "no outbound rate for 99912345"],
    [
      "no row in force yet",
      { to: "+442071234567", answered_at: "2025-12-31T23:59:59Z" },
      "no outbound rate for 442071234567",
    ],
    [
      "no inbound row for the prefix",
      { direction: "inbound", to: "+33123456789" },
      "no inbound rate for 33123456789",
    ],
    [
      "a 0-second call with no rate",
      { to: "+99912345", duration_seconds: 0 },
      "no outbound rate for 99912345",
    ],
  ])("no_rate when %s", (_case, overrides, message) => {
    expect(rateCdr(deck, cdr(overrides))).toEqual({ ok: false, code: "no_rate", message });
  });
});

describe("charges", () => {
  it("duration 0: charge 0, billed 0, surcharges ignored (even unpriced ones)", () => {
    const deck = table(["1,US,outbound,0.5,0.25,60,60,2026-01-01"], []);
    const r = rated(
      rateCdr(
        deck,
        cdr({ to: "+14155550100", duration_seconds: 0, surcharges: [{ feature: "recording", seconds: 30 }] }),
      ),
    );
    expect(r.chargeMicros).toBe(0n);
    expect(r.billedSeconds).toBe(0);
  });

  it("adds the connection fee to the per-minute charge", () => {
    const deck = table(["1,US,outbound,0.06,0.01,60,1,2026-01-01"]);
    expect(rated(rateCdr(deck, cdr({ to: "+14155550100", duration_seconds: 61 }))).chargeMicros).toBe(
      10_000n + 61_000n,
    );
  });

  it("sums fee, call and surcharges exactly, then rounds the total once", () => {
    // fee 1 micro + call 30 s at 0.000001/min (0.5 micro) + recording 1 started minute (1 micro) = 2.5 → 3.
    const deck = table(
      ["1,US,outbound,0.000001,0.000001,30,30,2026-01-01"],
      ["recording,0.000001,2026-01-01", "barging,0.000001,2026-01-01"],
    );
    const c = cdr({
      to: "+14155550100",
      duration_seconds: 30,
      surcharges: [
        { feature: "recording", seconds: 30 },
        { feature: "barging", seconds: 0 },
      ],
    });
    expect(rated(rateCdr(deck, c)).chargeMicros).toBe(3n);
  });

  it.each([
    // rate per minute, seconds (1/1 increments), charge in micros
    ["0.000001", 30, 1n], // 0.5 micro: a tie rounds up (half-even would give 0)
    ["0.000003", 30, 2n], // 1.5 → 2
    ["0.000005", 30, 3n], // 2.5 → 3 (half-even would give 2)
    ["0.000001", 29, 0n], // 0.4833… → 0
    ["0.000001", 31, 1n], // 0.5166… → 1
    ["0.000007", 10, 1n], // 1.1666… → 1
    ["0.000009", 10, 2n], // 1.5 → 2
  ])("rate %s for %i s rounds half-up to %i micros", (rate, seconds, micros) => {
    const deck = table([`1,US,outbound,${rate},0,1,1,2026-01-01`]);
    expect(rated(rateCdr(deck, cdr({ to: "+14155550100", duration_seconds: seconds }))).chargeMicros).toBe(
      micros,
    );
  });

  it.each(["recording", "barging", "conference", "sip_phone", "transcription"])(
    "prices the %s surcharge per started minute at its own rate",
    (feature) => {
      const deck = table(
        ["1,US,outbound,0,0,1,1,2026-01-01"],
        [`${feature},0.012,2026-01-01`, `${feature},0.024,2027-01-01`],
      );
      const r = rated(
        rateCdr(
          deck,
          cdr({ to: "+14155550100", duration_seconds: 10, surcharges: [{ feature, seconds: 61 }] }),
        ),
      );
      expect(r.chargeMicros).toBe(24_000n); // 2 started minutes × 0.012
    },
  );

  it("bills a surcharge longer than the call on its own seconds", () => {
    const deck = table(["1,US,outbound,0,0,1,1,2026-01-01"], ["conference,0.003,2026-01-01"]);
    const r = rated(
      rateCdr(
        deck,
        cdr({
          to: "+14155550100",
          duration_seconds: 7,
          surcharges: [{ feature: "conference", seconds: 200 }],
        }),
      ),
    );
    expect(r.chargeMicros).toBe(12_000n);
  });

  it.each([
    ["no surcharge deck at all", undefined],
    ["no row for the feature", ["barging,0.005,2026-01-01"]],
    ["its only row not yet in force", ["recording,0.0025,2027-01-01"]],
  ])("a surcharge is no_rate with %s", (_case, surcharges) => {
    const deck = table(["1,US,outbound,0.01,0,60,60,2026-01-01"], surcharges);
    const outcome = rateCdr(
      deck,
      cdr({ to: "+14155550100", surcharges: [{ feature: "recording", seconds: 10 }] }),
    );
    expect(outcome).toEqual({
      ok: false,
      code: "no_rate",
      message: 'no rate for surcharge "recording" at 2026-11-27T10:00:00Z',
    });
  });

  it("stays exact past 2^53 micros×60 (falls back to BigInt)", () => {
    const deck = table(
      ["1,US,outbound,999999.999999,999999.999999,86400,86400,2026-01-01"],
      ["recording,999999.999999,2026-01-01"],
    );
    const c = cdr({
      to: "+14155550100",
      duration_seconds: 86_400,
      surcharges: [{ feature: "recording", seconds: 86_400 }],
    });
    const rate = 999_999_999_999n;
    const expected = (rate * 60n + rate * 86_400n + rate * 86_400n + 30n) / 60n;
    expect(rated(rateCdr(deck, c)).chargeMicros).toBe(expected);
  });

  it("a charge past 2^53 − 1 micros is invalid_cdr, never rounded (SPEC §2)", () => {
    const features = ["a", "b", "c", "d", "e", "f", "g"];
    const deck = table(
      ["1,US,outbound,999999.999999,999999.999999,86400,86400,2026-01-01"],
      features.map((f) => `${f},999999.999999,2026-01-01`),
    );
    const c = cdr({
      to: "+14155550100",
      duration_seconds: 86_400,
      surcharges: features.map((feature) => ({ feature, seconds: 86_400 })),
    });
    expect(rateCdr(deck, c)).toMatchObject({ ok: false, code: "invalid_cdr" });
    // Five features stay within the range, exactly.
    const five = cdr({ ...c, surcharges: c.surcharges.slice(0, 5) });
    const rate = 999_999_999_999n;
    expect(rated(rateCdr(deck, five)).chargeMicros).toBe((rate * 60n + rate * 86_400n * 6n + 30n) / 60n);
  });

  it("reports which deck row rated the call", () => {
    const deck = table([
      "44,UK,outbound,0.015,0,60,60,2026-01-01",
      "4420,London,outbound,0.012,0,60,60,2026-01-01",
    ]);
    const r = rated(rateCdr(deck, cdr()));
    expect(r.rate).toMatchObject({ prefix: "4420", file: "rates.csv", line: 3 });
    expect(r.version).toBeNull();
  });
});

describe("roundHalfUpDiv60", () => {
  it.each([
    [0, 0],
    [29, 0],
    [30, 1],
    [89, 1],
    [90, 2],
    [Number.MAX_SAFE_INTEGER - 30, Math.round((Number.MAX_SAFE_INTEGER - 30) / 60)],
  ])("%i / 60 → %i", (n, q) => {
    expect(roundHalfUpDiv60(n)).toBe(Number((BigInt(n) + 30n) / 60n));
    expect(roundHalfUpDiv60(n)).toBe(q);
  });
});
