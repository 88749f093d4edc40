/** card_charges on the real Postgres: one claim wins, whatever the interleaving. */
import { afterEach, describe, expect, it } from "vitest";
import { claimCardCharge } from "../../src/adapters/postgres/card-charges.js";
import { balanceRig } from "../support/balances.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

describe("claimCardCharge", () => {
  it("gives one claim the new row and every concurrent claim of the same key that row", async () => {
    const rig = await balanceRig(scope);
    const account = await rig.newAccount();
    for (let round = 0; round < 20; round++) {
      const claim = { chargeKey: `api:${account}:k-${round}`, accountId: account, amountMicros: 25_000_000n };
      const claims = await Promise.all(
        Array.from({ length: 8 }, () => claimCardCharge(rig.pool, { ...claim, purpose: "manual_recharge" })),
      );
      expect(claims.filter((c) => c.created)).toHaveLength(1);
      for (const c of claims)
        expect(c.charge).toMatchObject({ charge_key: claim.chargeKey, status: "pending" });
    }
  });

  it("refuses an account that does not exist", async () => {
    const rig = await balanceRig(scope);
    await expect(
      claimCardCharge(rig.pool, {
        chargeKey: "api:nobody:k",
        accountId: "nobody",
        purpose: "manual_recharge",
        amountMicros: 1n,
      }),
    ).rejects.toThrow('no account "nobody" to charge');
  });
});
