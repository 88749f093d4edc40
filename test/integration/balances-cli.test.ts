/**
 * The billing team's commands through the real binary, and the order of effects under
 * SIGKILL at each named fault point (RATESTREAM_FAULT), with a second writer running.
 */
import { afterEach, describe, expect, it } from "vitest";
import { accountKeys, allAccountKeys } from "../../src/adapters/redis/keys.js";
import { connectRedis } from "../../src/adapters/redis/connection.js";
import { FAULT_POINTS } from "../../src/balances/faults.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { utcMonth } from "../../src/balances/types.js";
import { balanceRig, call, credit } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { config, Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const USD = 1_000_000n;

describe("credits add and adjust", () => {
  it("is idempotent per reference: same amount changes nothing, another amount is refused", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const env = { DATABASE_URL: rig.databaseUrl };
    const first = await ratestream(
      ["credits", "add", "--account", a, "--amount", "25.50", "--reference", "INV-7"],
      { env },
    );
    expect(first.stderr).toBe("");
    expect(JSON.parse(first.stdout)).toMatchObject({
      amount_micros: "25500000",
      balance_micros: "25500000",
      changed: true,
    });
    const again = await ratestream(
      ["credits", "add", "--account", a, "--amount", "25.5", "--reference", "INV-7"],
      { env },
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, balance_micros: "25500000" });
    const other = await ratestream(
      ["credits", "add", "--account", a, "--amount", "30", "--reference", "INV-7"],
      { env },
    );
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('reference "INV-7" was already used');
    expect(await rig.ledgerBalance(a)).toBe(25_500_000n);

    const refund = await ratestream(
      ["adjust", "--account", a, "--amount", "-0.50", "--reason", "dropped call", "--reference", "T-1"],
      { env },
    );
    expect(JSON.parse(refund.stdout)).toMatchObject({ balance_micros: "25000000" });
    const show = await ratestream(["balances", "show", "--account", a], { env });
    expect(JSON.parse(show.stdout)).toEqual({ account_id: a, balance_micros: 25_000_000, blocked: false });
  });

  it.each([
    [["credits", "add", "--amount", "10", "--reference", "r"], /--account/],
    [["credits", "add", "--account", "a", "--amount", "0", "--reference", "r"], /greater than 0/],
    [
      ["credits", "add", "--account", "a", "--amount", "1.005", "--reference", "r"],
      /more than 2 decimal places/,
    ],
    [["credits", "add", "--account", "a", "--amount", "-5", "--reference", "r"], /not a decimal number/],
    [["adjust", "--account", "a", "--amount", "0", "--reason", "x", "--reference", "r"], /must not be 0/],
    [["accounts", "create", "--id", "bad id", "--admin-email", "a@b.co"], /--id/],
    [["accounts", "create", "--id", "ok", "--admin-email", "nope"], /not an email address/],
  ])("refuses bad usage %j with exit 2", async (args, message) => {
    const result = await ratestream(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it("refuses credits for an account that does not exist", async () => {
    const rig = await balanceRig(scope);
    const result = await ratestream(
      ["credits", "add", "--account", "ghost", "--amount", "5", "--reference", "r"],
      {
        env: { DATABASE_URL: rig.databaseUrl },
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no account "ghost"');
  });
});

describe("a SIGKILL between any two effects", () => {
  it.each(FAULT_POINTS.filter((p) => p.startsWith("after_") && p !== "after_publish"))(
    "at %s, then the same command again: credited exactly once, reconcile clean, while another writer debits",
    async (point) => {
      const rig = await balanceRig(scope);
      const a = await rig.newAccount();
      const env = { DATABASE_URL: rig.databaseUrl };
      await applyEntries(rig.deps, [credit(a, "opening", 100n * USD)]);
      let writing = true;
      let calls = 0;
      const writer = (async () => {
        while (writing) await applyEntries(rig.deps, [call(a, `c-${calls++}`, 10_000n)]);
      })();
      const args = ["credits", "add", "--account", a, "--amount", "10", "--reference", "INV-9"];
      const killed = await ratestream(args, { env: { ...env, RATESTREAM_FAULT: point } });
      expect(killed.code).toBeNull(); // died by signal, at the fault point
      const retried = await ratestream(args, { env });
      expect(retried.code).toBe(0);
      writing = false;
      await writer;
      const expected = 110n * USD - BigInt(calls) * 10_000n;
      expect(await rig.ledgerBalance(a)).toBe(expected);
      expect(await rig.balance(a)).toBe(expected);
      const reconcile = await ratestream(["reconcile"], { env });
      expect(JSON.parse(reconcile.stdout)).toMatchObject({ drifted: 0 });
      expect(reconcile.code).toBe(0);
    },
  );
});

describe("reconcile, rebuild", () => {
  it("exits 1 on drift and names the account; rebuild restores it from the ledger", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const b = await rig.newAccount();
    const env = { DATABASE_URL: rig.databaseUrl };
    await applyEntries(rig.deps, [credit(a, "inv-1", 7n * USD), credit(b, "inv-1", 9n * USD)]);
    const raw = connectRedis(config.redisUrl);
    await raw.hincrby(accountKeys(b).state, "balance", -123);
    raw.disconnect();

    const drift = await ratestream(["reconcile"], { env });
    expect(drift.code).toBe(1);
    const summary = JSON.parse(drift.stdout) as {
      accounts_checked: number;
      drifted: number;
      drift: { account_id: string }[];
    };
    expect(summary).toMatchObject({ accounts_checked: 2, drifted: 1 });
    expect(summary.drift[0]?.account_id).toBe(b);

    const rebuild = await ratestream(["balances", "rebuild"], { env });
    expect(JSON.parse(rebuild.stdout)).toEqual({ accounts_rebuilt: 2 });
    expect(await rig.balance(b)).toBe(9n * USD);
    const clean = await ratestream(["reconcile"], { env });
    expect(clean.code).toBe(0);
  });
});

describe("accounts and API keys", () => {
  it("creates, sets, and refuses offline auto-recharge on a trial account", async () => {
    const rig = await balanceRig(scope);
    const env = { DATABASE_URL: rig.databaseUrl };
    const id = `acme-${Date.now()}`;
    scope.defer(async () => {
      const raw = connectRedis(config.redisUrl);
      await raw.del(...allAccountKeys(id));
      raw.disconnect();
    });
    const created = await ratestream(
      ["accounts", "create", "--id", id, "--admin-email", "ops@acme.example", "--trial"],
      { env },
    );
    expect(JSON.parse(created.stdout)).toMatchObject({
      account_id: id,
      balance_micros: "0",
      blocked: true,
      trial: true,
    });
    expect(
      (await ratestream(["accounts", "create", "--id", id, "--admin-email", "ops@acme.example"], { env }))
        .code,
    ).toBe(2);

    const offline = [
      "--recharge-mode",
      "offline",
      "--offline-reload",
      "100",
      "--offline-threshold",
      "20",
      "--offline-monthly-max",
      "300",
    ];
    const refused = await ratestream(["accounts", "set", "--id", id, ...offline], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("not available on trial accounts");
    const set = await ratestream(["accounts", "set", "--id", id, "--trial", "false", ...offline], { env });
    expect(JSON.parse(set.stdout)).toMatchObject({
      trial: false,
      recharge_mode: "offline",
      offline_reload_micros: "100000000",
      offline_threshold_micros: "20000000",
      offline_monthly_max_micros: "300000000",
    });
    const partial = await ratestream(["accounts", "set", "--id", id, "--offline-reload", "5"], { env });
    expect(partial.code).toBe(2);
  });

  it("a restore that read the account before `accounts set`, written after it, does not bring the old settings back", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const env = { DATABASE_URL: rig.databaseUrl };
    const offline = ["--offline-reload", "10", "--offline-threshold", "20", "--offline-monthly-max", "100"];
    const on = await ratestream(["accounts", "set", "--id", a, "--recharge-mode", "offline", ...offline], {
      env,
    });
    expect(on.code, on.stderr).toBe(0);
    await applyEntries(rig.deps, [credit(a, "inv-1", 50n * USD)]);
    expect(await rig.redisState(a)).toMatchObject({ auto: "offline" });

    // Redis loses the account; a writer restoring it reads the ledger (offline reload on) ...
    await rig.deps.store.forget(a);
    const stale = (await rig.deps.ledger.snapshot(a, utcMonth(new Date())))!;
    // ... the billing team turns offline reload off meanwhile ...
    const off = await ratestream(["accounts", "set", "--id", a, "--recharge-mode", "online"], { env });
    expect(off.code, off.stderr).toBe(0);
    // ... and the restore lands after the update.
    await rig.deps.store.restore(stale);

    expect(await rig.redisState(a)).toMatchObject({ auto: "none" });
    await applyEntries(rig.deps, [call(a, "c-1", 35n * USD)]); // 15.00 ≤ 20.00, but reload is off
    expect((await rig.events(a)).map((e) => e.type)).not.toContain("offline_reloaded");
    expect(await rig.balance(a)).toBe(15n * USD);
  });

  it("creates keys shown once and stored hashed, lists and revokes them", async () => {
    const rig = await balanceRig(scope);
    const env = { DATABASE_URL: rig.databaseUrl };
    const a = await rig.newAccount();
    const admin = JSON.parse(
      (await ratestream(["apikeys", "create", "--account", a, "--role", "admin"], { env })).stdout,
    ) as {
      key_id: string;
      api_key: string;
    };
    expect(admin.api_key).toMatch(/^rsk_[A-Za-z0-9_-]{43}$/);
    const stored = await rig.pool.query<{ key_hash: string }>("select key_hash from api_keys");
    expect(stored.rows[0]?.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored.rows)).not.toContain(admin.api_key);

    expect((await ratestream(["apikeys", "create", "--role", "switch"], { env })).code).toBe(0);
    expect((await ratestream(["apikeys", "create", "--role", "switch", "--account", a], { env })).code).toBe(
      2,
    );
    expect((await ratestream(["apikeys", "create", "--role", "agent"], { env })).code).toBe(2);

    const list = (await ratestream(["apikeys", "list"], { env })).stdout.trim().split("\n");
    expect(list).toHaveLength(2);
    expect(list.join()).not.toContain("rsk_");
    const revoked = await ratestream(["apikeys", "revoke", admin.key_id], { env });
    expect(JSON.parse(revoked.stdout)).toEqual({ key_id: admin.key_id, revoked: true, already: false });
    expect((await ratestream(["apikeys", "revoke", "key_nope"], { env })).code).toBe(2);
  });
});
