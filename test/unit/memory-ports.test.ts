import { describePortConformance } from "../support/port-conformance.js";
import { MemoryBalanceStore, MemoryLedger } from "../support/memory-ports.js";

let n = 0;
describePortConformance("in memory", () => {
  const store = new MemoryBalanceStore();
  const ledger = new MemoryLedger();
  return Promise.resolve({
    store,
    ledger,
    openSession(accountId, session) {
      ledger.calls.set(`${accountId}\u0000${session.callId}`, { ...session, accountId });
      return Promise.resolve();
    },
    newAccount() {
      const id = `acct_${++n}`;
      ledger.addAccount(id);
      return Promise.resolve(id);
    },
  });
});
