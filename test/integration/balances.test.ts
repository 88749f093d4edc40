/** Balances on the real Redis and the real Postgres ledger: SPEC §1, §2, §5. */
import { afterEach, describe, expect, it } from "vitest";
import { updateAccount } from "../../src/adapters/postgres/accounts.js";
import { accountKeys } from "../../src/adapters/redis/keys.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { call, credit, balanceRig } from "../support/balances.js";
import { config, Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const USD = 1_000_000n;

describe("balances", () => {
  it("a new account holds 0.00 and is blocked; creating it fires nothing", async () => {
    const rig = await balanceRig(scope);
    const account = await rig.newAccount();
    const snapshot = await rig.deps.ledger.snapshot(account, "2026-11");
    expect(snapshot?.balanceMicros).toBe(0n);
    expect(await rig.events(account)).toEqual([]);
  });

  it("charges a completed call even below zero, and blocks the account", async () => {
    const rig = await balanceRig(scope);
    const account = await rig.newAccount();
    await applyEntries(rig.deps, [credit(account, "inv-1", 3n * USD)]);
    const [outcome] = await applyEntries(rig.deps, [call(account, "c-1", 4_250_000n)]);
    expect(outcome).toMatchObject({ status: "applied" });
    expect(await rig.balance(account)).toBe(-1_250_000n);
    expect(await rig.ledgerBalance(account)).toBe(-1_250_000n);
    expect((await rig.events(account)).map((e) => e.type)).toEqual(["unblocked", "blocked"]);
  });

  it("fires each crossing once, and again only after the balance moved back", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 10n * USD)]); // 10.00: unblocked
    await applyEntries(rig.deps, [call(a, "c-1", 5n * USD)]); // 5.00: not below 5
    await applyEntries(rig.deps, [call(a, "c-2", 1n)]); // 4.999999: low_balance
    await applyEntries(rig.deps, [call(a, "c-3", USD)]); // 3.999999: nothing
    await applyEntries(rig.deps, [call(a, "c-4", 1_999_999n)]); // 2.00: not below 2
    await applyEntries(rig.deps, [call(a, "c-5", 1n)]); // 1.999999: blocked
    await applyEntries(rig.deps, [credit(a, "inv-2", 1n)]); // 2.00: unblocked
    await applyEntries(rig.deps, [credit(a, "inv-3", 10n * USD)]); // 12.00
    await applyEntries(rig.deps, [call(a, "c-6", 8n * USD)]); // 4.00: low_balance again
    const events = await rig.events(a);
    expect(events.map((e) => [e.type, e.cause, e.balance_micros])).toEqual([
      ["unblocked", "inv-1", "10000000"],
      ["low_balance", "c-2", "4999999"],
      ["blocked", "c-5", "1999999"],
      ["unblocked", "inv-2", "2000000"],
      ["low_balance", "c-6", "4000000"],
    ]);
  });

  it("fires each crossing once under many concurrent writers", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 10n * USD)]);
    // 50 writers at once, each a batch of one 0.20 call: 10.00 → 0.00.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => applyEntries(rig.deps, [call(a, `c-${i}`, 200_000n)])),
    );
    expect(await rig.balance(a)).toBe(0n);
    expect(await rig.ledgerBalance(a)).toBe(0n);
    const types = (await rig.events(a)).map((e) => e.type).sort();
    expect(types).toEqual(["blocked", "low_balance", "unblocked"]);
    expect((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status).toBe("ok");
  });

  it("debits the same CDR once: twice in one batch, and again a week later", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 10n * USD)]);
    const outcomes = await applyEntries(rig.deps, [
      call(a, "c-1", USD),
      call(a, "c-1", USD),
      call(a, "c-2", USD),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["applied", "duplicate", "applied"]);
    const weekLater = new Date(Date.now() + 7 * 86_400_000);
    const [again] = await applyEntries(rig.deps, [call(a, "c-1", USD)], weekLater);
    expect(again).toMatchObject({ status: "duplicate", recorded: { amountMicros: -USD } });
    expect(await rig.balance(a)).toBe(8n * USD);
    expect(await rig.ledgerBalance(a)).toBe(8n * USD);
  });

  it("reports an account the ledger does not know as unknown_account, touching nothing", async () => {
    const rig = await balanceRig(scope);
    const [outcome] = await applyEntries(rig.deps, [call("nobody-here", "c-1", USD)]);
    expect(outcome).toEqual({ status: "unknown_account" });
  });

  it("Redis wiped after a batch was applied and recorded, then the batch redelivered: debited once", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const b = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 10n * USD), credit(b, "inv-1", 3n * USD)]);
    const batch = [call(a, "c-1", USD), call(b, "c-2", 2n * USD), call(a, "c-3", USD)];
    await applyEntries(rig.deps, batch);
    await rig.wipeRedis(); // Redis restarts empty before the offsets were committed
    const redelivered = await applyEntries(rig.deps, batch);
    expect(redelivered.map((o) => o.status)).toEqual(["duplicate", "duplicate", "duplicate"]);
    expect(await rig.deps.store.snapshot(a)).toBe("missing"); // nothing new to apply: restored on next use
    await applyEntries(rig.deps, [call(a, "c-4", USD)]);
    expect(await rig.balance(a)).toBe(7n * USD);
    expect(await rig.ledgerBalance(a)).toBe(7n * USD);
    expect((await rig.events(b)).map((e) => e.type)).toEqual(["unblocked", "blocked"]);
  });

  it("Redis wiped after applying but before the ledger recorded: the redelivery applies once", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 10n * USD)]);
    // Step 2 only, as a process killed right after it would leave things.
    await rig.deps.store.apply(new Map([[a, [call(a, "c-1", USD)]]]), "2026-11");
    await rig.wipeRedis();
    await applyEntries(rig.deps, [call(a, "c-1", USD)]);
    expect(await rig.balance(a)).toBe(9n * USD);
    expect(await rig.ledgerBalance(a)).toBe(9n * USD);
  });

  it("a retry after the Redis step replays the stored result: same seq, same events", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 6n * USD)]);
    const first = await rig.deps.store.apply(new Map([[a, [call(a, "c-1", 2n * USD)]]]), "2026-11");
    const [retry] = await applyEntries(rig.deps, [call(a, "c-1", 2n * USD)]);
    expect(retry).toMatchObject({ status: "applied", applied: (first.get(a) as unknown[])[0] });
    expect(await rig.balance(a)).toBe(4n * USD);
    expect((await rig.events(a)).map((e) => e.type)).toEqual(["unblocked", "low_balance"]);
  });

  it("a batch over many accounts shares script calls; one lost account, one replay, each exact", async () => {
    const rig = await balanceRig(scope);
    // 30 accounts × 40 calls: more entries than one script call takes.
    const accounts = await Promise.all(Array.from({ length: 30 }, () => rig.newAccount()));
    await applyEntries(
      rig.deps,
      accounts.map((a) => credit(a, "inv-1", 10n * USD)),
    );
    const batch = accounts.flatMap((a, n) =>
      Array.from({ length: 40 }, (_, i) => call(a, `c-${n}-${i}`, 10_000n + BigInt(i))),
    );
    const lost = accounts[7]!;
    const replayed = accounts[21]!;
    await rig.deps.store.forget(lost); // Redis lost this one account
    // Step 2 only for one entry, as a process killed right after it would leave it.
    const [early] = (await rig.deps.store.apply(new Map([[replayed, [batch[21 * 40 + 5]!]]]), "2026-11")).get(
      replayed,
    ) as { entries: { seq: bigint }[] }[];

    const outcomes = await applyEntries(rig.deps, batch);
    expect(outcomes.every((o) => o.status === "applied")).toBe(true);
    const spent = 40n * 10_000n + (39n * 40n) / 2n;
    for (const a of accounts) {
      expect(await rig.balance(a)).toBe(10n * USD - spent);
      expect(await rig.ledgerBalance(a)).toBe(10n * USD - spent);
    }
    const replay = outcomes[21 * 40 + 5]!;
    expect(replay.status === "applied" && replay.applied.entries[0]!.seq).toBe(early!.entries[0]!.seq);
    const { rows } = await rig.pool.query<{ n: string }>(
      "select count(*) as n from ledger_entries where kind = 'call' and account_id = any($1)",
      [accounts],
    );
    expect(Number(rows[0]!.n)).toBe(30 * 40);
  });

  it("restores an account from the ledger with its settings and month-to-date reloads", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await rig.pool.query(
      `update accounts set recharge_mode = 'offline', offline_reload_micros = 50000000,
         offline_threshold_micros = 10000000, offline_monthly_max_micros = 100000000 where account_id = $1`,
      [a],
    );
    await applyEntries(rig.deps, [credit(a, "inv-1", 20n * USD)]);
    await applyEntries(rig.deps, [call(a, "c-1", 15n * USD)]); // 5.00 ≤ 10.00: reload 50 → 55.00
    await rig.wipeRedis();
    await applyEntries(rig.deps, [call(a, "c-2", 50n * USD)]); // 5.00 again: reload 50 → 55.00 (100 this month)
    await applyEntries(rig.deps, [call(a, "c-3", 50n * USD)]); // 5.00 again: the max would be passed: capped
    await rig.wipeRedis();
    await applyEntries(rig.deps, [credit(a, "inv-2", 50n * USD)]); // 55.00
    await applyEntries(rig.deps, [call(a, "c-4", 50n * USD)]); // 5.00: still capped, no second capped event
    expect(await rig.balance(a)).toBe(5n * USD);
    expect(await rig.ledgerBalance(a)).toBe(5n * USD);
    const events = (await rig.events(a)).map((e) => e.type);
    expect(events.filter((t) => t === "offline_reloaded")).toHaveLength(2);
    expect(events.filter((t) => t === "auto_recharge_capped")).toHaveLength(1);
    const invoices = await rig.pool.query("select amount_micros from invoices where account_id = $1", [a]);
    expect(invoices.rows).toEqual([{ amount_micros: "50000000" }, { amount_micros: "50000000" }]);
  });

  it("requests one online auto-recharge per crossing, another if a recharge leaves ≤ 5.00, capped monthly", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await rig.pool.query(
      `update accounts set auto_recharge_enabled = true, auto_recharge_amount_micros = 5000000,
         auto_recharge_monthly_limit_micros = 10000000 where account_id = $1`,
      [a],
    );
    await applyEntries(rig.deps, [credit(a, "inv-1", 8n * USD)]);
    await applyEntries(rig.deps, [call(a, "c-1", 4n * USD)]); // 4.00: reaches 5.00 → requested (5 of 10)
    await applyEntries(rig.deps, [call(a, "c-2", USD)]); // 3.00: no new crossing
    const recharge = {
      accountId: a,
      key: "recharge:pi_1",
      kind: "auto_recharge" as const,
      amountMicros: 1n * USD,
      cause: "pi_1",
    };
    await applyEntries(rig.deps, [recharge]); // 4.00 after the credit: still ≤ 5 → another (10 of 10)
    const recharge2 = { ...recharge, key: "recharge:pi_2", cause: "pi_2" };
    await applyEntries(rig.deps, [recharge2]); // 5.00: ≤ 5 → would pass the limit → capped
    const events = (await rig.events(a)).map((e) => [e.type, e.cause]);
    expect(events.filter(([t]) => t !== "unblocked" && t !== "low_balance")).toEqual([
      ["auto_recharge_requested", "c-1"],
      ["auto_recharge_requested", "pi_1"],
      ["auto_recharge_capped", new Date().toISOString().slice(0, 7)],
    ]);
  });

  it("never auto-recharges a trial account", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount({ trial: true });
    await rig.pool.query(
      "update accounts set auto_recharge_enabled = true, auto_recharge_amount_micros = 5000000 where account_id = $1",
      [a],
    );
    await applyEntries(rig.deps, [credit(a, "inv-1", 8n * USD)]);
    await applyEntries(rig.deps, [call(a, "c-1", 4n * USD)]);
    expect((await rig.events(a)).map((e) => e.type)).toEqual(["unblocked", "low_balance"]);
  });
});

describe("settings copied to Redis (issue 13, item 10)", () => {
  const offline = { reloadMicros: 10n * USD, thresholdMicros: 20n * USD, monthlyMaxMicros: 100n * USD };

  it("two updates whose Redis writes arrive in the opposite order to their Postgres commits leave Redis with the newer", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 50n * USD)]); // Redis holds the account
    // Two updates commit in Postgres, offline reload on, then off ...
    const older = (await updateAccount(rig.pool, a, { rechargeMode: "offline", offline }))!;
    const newer = (await updateAccount(rig.pool, a, { offline: null }))!;
    // ... and their copies reach Redis the other way round.
    await rig.deps.store.updateSettings(a, newer.settings);
    await rig.deps.store.updateSettings(a, older.settings);

    expect(await rig.redisState(a)).toMatchObject({ auto: "none", off_reload: "0" });
    await applyEntries(rig.deps, [call(a, "c-1", 35n * USD)]); // 15.00 ≤ 20.00: no reload is set
    expect(await rig.balance(a)).toBe(15n * USD);
    expect((await rig.events(a)).map((e) => e.type)).not.toContain("offline_reloaded");
  });
});

describe("reconcile", () => {
  it("finds no drift while writers run, and finds drift injected on purpose", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    await applyEntries(rig.deps, [credit(a, "inv-1", 100n * USD)]);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await applyEntries(rig.deps, [call(a, `c-${i}`, 10_000n)]);
    })();
    const checks = [];
    for (let i = 0; i < 20; i++) checks.push((await checkAccount(rig.deps.store, rig.deps.ledger, a)).status);
    writing = false;
    await writer;
    expect(new Set(checks)).toEqual(new Set(["ok"]));

    const raw = connectRedis(config.redisUrl);
    await raw.hincrby(accountKeys(a).state, "balance", 1);
    raw.disconnect();
    const drift = await checkAccount(rig.deps.store, rig.deps.ledger, a);
    expect(drift).toMatchObject({ status: "drift", detail: "balances differ" });
  });
});
