import { describe, expect, it } from "vitest";
import {
  charge60ForBilled,
  charge60ForBilledAsNumber,
  countingMonth,
  crossings,
  requestsOnlineRecharge,
  roundHalfUp60,
  roundHalfUpDiv60,
  startsOfflineReload,
  utcMonth,
} from "../../src/core/balance-rules.js";

const m = (units: number) => BigInt(Math.round(units * 1_000_000));

describe("the balance rules (SPEC §1-§2)", () => {
  it("crossings: below 5.00 and below 2.00 going down, 2.00 or more going up, each once", () => {
    expect(crossings(m(5), m(4.99))).toEqual(["low_balance"]);
    expect(crossings(m(5.01), m(5))).toEqual([]);
    expect(crossings(m(6), m(1))).toEqual(["low_balance", "blocked"]);
    expect(crossings(m(2), m(1.999999))).toEqual(["blocked"]);
    expect(crossings(m(1.99), m(2))).toEqual(["unblocked"]);
    expect(crossings(m(-3), m(30))).toEqual(["unblocked"]); // no "high balance" event
    expect(crossings(m(1), m(0.5))).toEqual([]);
  });

  it("online auto-recharge: on reaching 5.00 from above, or still there after a recharge or on turning it on", () => {
    expect(requestsOnlineRecharge(m(5.01), m(5), "call")).toBe(true);
    expect(requestsOnlineRecharge(m(5), m(4), "call")).toBe(false);
    expect(requestsOnlineRecharge(m(1), m(4), "auto_recharge")).toBe(true);
    expect(requestsOnlineRecharge(m(1), m(5.01), "auto_recharge")).toBe(false);
    expect(requestsOnlineRecharge(m(3), m(3), "auto_recharge_enabled")).toBe(true);
    expect(requestsOnlineRecharge(m(3), m(3), "credit")).toBe(false);
  });

  it("offline reloads start on crossing to at or below the threshold", () => {
    expect(startsOfflineReload(m(20.01), m(20), m(20))).toBe(true);
    expect(startsOfflineReload(m(20), m(10), m(20))).toBe(false);
  });

  it("months: UTC, and never back to an earlier month than the store holds", () => {
    expect(utcMonth(new Date("2026-11-30T23:59:59.999Z"))).toBe("2026-11");
    expect(utcMonth(new Date("2026-12-01T00:00:00Z"))).toBe("2026-12");
    expect(countingMonth("2026-11", "2026-12")).toBe("2026-12");
    expect(countingMonth("2026-12", "2026-11")).toBe("2026-12");
    expect(countingMonth("2026-11", undefined)).toBe("2026-11");
  });

  it("charge: fee + rate × billed / 60, rounded half-up once; the double form agrees while exact", () => {
    const rate = { connectionFeeMicros: 10_000, ratePerMinuteMicros: 60_001 };
    expect(charge60ForBilled(rate, 0)).toBe(0n);
    expect(roundHalfUp60(charge60ForBilled(rate, 1))).toBe(11_000n); // 10000 + 1000.0166…
    expect(roundHalfUp60(90n)).toBe(2n); // 1.5 → 2
    expect(roundHalfUp60(89n)).toBe(1n);
    for (const billed of [1, 59, 60, 61, 86_400]) {
      expect(BigInt(roundHalfUpDiv60(charge60ForBilledAsNumber(rate, billed)))).toBe(
        roundHalfUp60(charge60ForBilled(rate, billed)),
      );
    }
  });
});
