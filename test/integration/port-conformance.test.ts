import { afterEach, describe, expect, it } from "vitest";
import { recordCallSession } from "../../src/adapters/postgres/call-sessions.js";
import { balanceRig } from "../support/balances.js";
import { describePortConformance } from "../support/port-conformance.js";
import { INSERT_ENTRIES, INSERT_EVENTS, RECORDED, UNCHAINED } from "../../src/adapters/postgres/ledger.js";
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

describe("Postgres ledger: a batch's cost does not grow with the ledger", () => {
  it("looks up each of a batch's rows by index, never by scanning the ledger or the accounts", async () => {
    const rig = await balanceRig(scope);
    // A ledger and an accounts table big enough, and analysed, for the planner to prefer
    // hashing a whole table to 15,000 probes if the statement lets it.
    await rig.pool.query(
      "insert into accounts (account_id, admin_email) select 'big-' || g, 'big@example.com' from generate_series(1, 20000) g",
    );
    await rig.pool.query(
      `insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros, currency)
       select 'big-' || (g % 20000 + 1), g / 20000 + 1, 'cdr:big-' || g, 'call', -1, -(g / 20000 + 1), 'USD'
         from generate_series(0, 199999) g`,
    );
    await rig.pool.query("analyze accounts");
    await rig.pool.query("analyze ledger_entries");
    const n = 15_000;
    const accounts = Array.from({ length: n }, (_, i) => `big-${((i * 7919) % 20000) + 1}`);
    const text = (f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));
    const plans = {
      dedupe: [RECORDED.text, [accounts, text((i) => `cdr:big-${i * 13}`)]],
      chain: [UNCHAINED.text, [accounts, text(() => "11"), text(() => "-10")]],
      insert: [
        INSERT_ENTRIES.text,
        [
          accounts,
          text(() => "12"),
          text((i) => `cdr:new-${i}`),
          text(() => "call"),
          text(() => "-1"),
          text(() => "-12"),
          text(() => "1"),
          text((i) => `new-${i}`),
          text(() => null as unknown as string),
          text(() => null as unknown as string),
          text(() => "default"),
          text(() => "60"),
          text(() => "44"),
          text(() => "2026-01-01T00:00:00Z"),
          new Date(),
        ],
      ],
      events: [
        INSERT_EVENTS,
        [
          text((i) => `ev-${i}`),
          accounts,
          text(() => "low_balance"),
          text(() => "-1"),
          text(() => null as unknown as string),
          text((i) => `cause-${i}`),
          text(() => null as unknown as string),
          new Date(),
        ],
      ],
    } as const;
    for (const [statement, [sql, values]] of Object.entries(plans)) {
      const { rows } = await rig.pool.query<{ "QUERY PLAN": unknown }>(`explain (format json) ${sql}`, [
        ...values,
      ]);
      const scans = JSON.stringify(rows[0]!["QUERY PLAN"]).match(
        /"Node Type":"Seq Scan"[^}]*?"Relation Name":"(ledger_entries|accounts)"/g,
      );
      expect(scans, `${statement} scans a whole table`).toBeNull();
    }
  });
});
