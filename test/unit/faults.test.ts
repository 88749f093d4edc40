import { describe, expect, it } from "vitest";
import { FAULT_POINTS, faultWarning, faultsFromEnv, NO_FAULTS } from "../../src/balances/faults.js";

describe("RATESTREAM_FAULT", () => {
  it("is a no-op and says nothing when unset", () => {
    expect(faultsFromEnv(undefined)).toBe(NO_FAULTS);
    expect(faultsFromEnv("")).toBe(NO_FAULTS);
    expect(faultWarning(undefined)).toBeUndefined();
  });

  it("names itself at start-up when set, so a stray setting in production is seen", () => {
    expect(faultWarning("after_redis:2")).toMatch(
      /^RATESTREAM_FAULT=after_redis:2 is set: .*unset it in production/,
    );
  });

  it("refuses an unknown point, naming the ones there are", () => {
    expect(() => faultsFromEnv("before_commit")).toThrow(
      `RATESTREAM_FAULT: "before_commit" is not one of ${FAULT_POINTS.join(", ")}`,
    );
  });

  it("throws a TypeError (a planted bug) only the n-th time the point is reached", () => {
    const faults = faultsFromEnv("after_ledger:3:bug");
    expect(() => faults.reach("after_ledger")).not.toThrow();
    expect(() => faults.reach("after_redis")).not.toThrow();
    expect(() => faults.reach("after_ledger")).not.toThrow();
    expect(() => faults.reach("after_ledger")).toThrow(TypeError);
    expect(() => faults.reach("after_ledger")).not.toThrow();
  });
});
