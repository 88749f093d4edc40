import { describe, expect, it } from "vitest";
import { csvField, inWindow, reportLine, rerateCall } from "../../src/core/rerate.js";
import { cdr, table } from "../support/decks.js";

// 4420 at 0.012/min, 60/60: a 125 s call bills 180 s = 36,000 micros.
const fixed = table(["4420,London,outbound,0.012000,0,60,60,2026-01-01"]);
const recorded = (chargeMicros: bigint) => ({ chargeMicros, prefix: "4420", rateVersion: 1 });

describe("rerateCall", () => {
  it("a call the ledger does not hold is not_in_ledger, even if the deck prices it", () => {
    expect(rerateCall(fixed, cdr(), undefined)).toEqual({ outcome: "not_in_ledger" });
  });

  it("a call the deck no longer prices is no_rate, naming why", () => {
    const result = rerateCall(fixed, cdr({ to: "+4915112345678" }), recorded(1n));
    expect(result).toMatchObject({ outcome: "no_rate", message: "no outbound rate for 4915112345678" });
  });

  it("the same charge is unchanged, whatever prefix or version the ledger names", () => {
    expect(rerateCall(fixed, cdr(), { chargeMicros: 36_000n, prefix: "44", rateVersion: 7 })).toMatchObject({
      outcome: "unchanged",
    });
  });

  it("a changed charge carries new − old: positive when the customer owes more", () => {
    const lower = rerateCall(fixed, cdr(), recorded(360_000n));
    expect(lower).toMatchObject({ outcome: "changed", deltaMicros: -324_000n });
    const higher = rerateCall(fixed, cdr(), recorded(30_000n));
    expect(higher).toMatchObject({
      outcome: "changed",
      deltaMicros: 6_000n,
      new: {
        chargeMicros: 36_000n,
        prefix: "4420",
        billedSeconds: 180,
        rateEffectiveFrom: "2026-01-01T00:00:00Z",
      },
    });
  });
});

describe("the report", () => {
  it("the window is [from, to) on answered_at", () => {
    const at = cdr({ answered_at: "2026-11-20T00:00:00Z" }).answeredAtMicros;
    expect(inWindow(cdr({ answered_at: "2026-11-20T00:00:00Z" }), { fromMicros: at, toMicros: at + 1 })).toBe(
      true,
    );
    expect(inWindow(cdr({ answered_at: "2026-11-20T00:00:00Z" }), { fromMicros: at - 1, toMicros: at })).toBe(
      false,
    );
  });

  it("quotes a field with a comma, quote or line break (cdr_ids may hold them)", () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("plain")).toBe("plain");
    expect(csvField(null)).toBe("");
    expect(
      reportLine({
        cdr_id: "c,1",
        account_id: "acme",
        answered_at: "2026-11-20T00:00:00Z",
        old_charge_micros: 360_000n,
        new_charge_micros: 36_000n,
        delta_micros: -324_000n,
        old_prefix: "4420",
        new_prefix: "4420",
        old_rate_version: 1,
        new_rate_version: 2,
      }),
    ).toBe('"c,1",acme,2026-11-20T00:00:00Z,360000,36000,-324000,4420,4420,1,2\n');
  });
});
