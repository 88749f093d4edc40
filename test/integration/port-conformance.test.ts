import { afterEach } from "vitest";
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
