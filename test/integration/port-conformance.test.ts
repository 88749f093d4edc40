import { afterEach, describe, expect, it } from "vitest";
import { recordCallSession } from "../../src/adapters/postgres/call-sessions.js";
import { balanceRig } from "../support/balances.js";
import { describePortConformance } from "../support/port-conformance.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

describePortConformance("Redis and Postgres", async () => {
  const rig = await balanceRig(scope);
  return {
    store: rig.deps.store,
    ledger: rig.deps.ledger,
    newAccount: () => rig.newAccount(),
    async openSession(accountId, session) {
      await recordCallSession(rig.pool, accountId, session);
    },
  };
});

describe("Postgres ledger: what the foreign key to accounts guaranteed (migration 010)", () => {
  it("an account is never deleted or renamed, so every entry's account exists", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await expect(rig.pool.query("delete from accounts where account_id = $1", [a])).rejects.toThrow(
      /accounts are never deleted or renamed/,
    );
    await expect(
      rig.pool.query("update accounts set account_id = $2 where account_id = $1", [a, `${a}-renamed`]),
    ).rejects.toThrow(/accounts are never deleted or renamed/);
  });

  it("records nothing for an account that does not exist", async () => {
    const rig = await balanceRig(scope);
    const ghost = `ghost-${Date.now()}`;
    const request = {
      accountId: ghost,
      key: "cdr:g1",
      kind: "call" as const,
      amountMicros: -1_000n,
      cause: "g1",
    };
    const result = await rig.deps.ledger.record(
      [
        {
          request,
          entries: [{ ...request, seq: 1n, beforeMicros: 0n, afterMicros: -1_000n }],
          events: [],
        },
      ],
      new Date(),
    );
    expect(result.status).not.toBe("recorded");
    const { rows } = await rig.pool.query("select 1 from ledger_entries where account_id = $1", [ghost]);
    expect(rows).toEqual([]);
  });
});
