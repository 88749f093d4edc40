/**
 * The Lua scripts on a real 3-master Redis Cluster: every key a script touches carries
 * the account's hash tag, so no call answers CROSSSLOT and accounts spread over all
 * masters keep exact balances.
 */
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountKeys } from "../../src/adapters/redis/keys.js";
import { RedisBalanceStore } from "../../src/adapters/redis/balance-store.js";
import { refuseEvictingRedis } from "../../src/adapters/redis/eviction.js";
import { RedisCallStore } from "../../src/adapters/redis/call-store.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { balanceRig, call, credit } from "../support/balances.js";
import { startRedisCluster, type LocalCluster } from "../support/redis-cluster.js";
import { Scope } from "../support/services.js";

const scope = new Scope();
let cluster: LocalCluster;
let client: Cluster;

beforeAll(async () => {
  // A port range of this file's own, away from the shared services.
  cluster = await startRedisCluster(17_100 + Math.floor(Math.random() * 800));
  client = new Cluster(
    cluster.ports.map((port) => ({ host: "127.0.0.1", port })),
    {
      enableAutoPipelining: true,
      redisOptions: { maxRetriesPerRequest: 3 },
    },
  );
}, 60_000);

afterAll(async () => {
  await scope.cleanup();
  client?.disconnect();
  await cluster?.stop();
});

/** Which master serves each slot. */
async function slotOwners(): Promise<(slot: number) => string> {
  const ranges = await client.cluster("SLOTS");
  return (slot) => {
    const [, , master] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return `${master![0]}:${master![1]}`;
  };
}

describe("balance scripts on Redis Cluster", () => {
  it("spread over all three masters, balances exact, no CROSSSLOT", async () => {
    const rig = await balanceRig(scope);
    const store = new RedisBalanceStore(client);
    const deps = { ...rig.deps, store };
    const accounts = await Promise.all(Array.from({ length: 24 }, () => rig.newAccount()));
    scope.defer(() => Promise.all(accounts.map((a) => store.forget(a))));

    const owner = await slotOwners();
    const masters = new Set<string>();
    for (const a of accounts) {
      const keys = accountKeys(a);
      const slots = await Promise.all([keys.state, keys.pending].map((k) => client.cluster("KEYSLOT", k)));
      expect(new Set(slots).size).toBe(1); // one account, one slot
      masters.add(owner(slots[0]!));
    }
    expect(masters.size).toBe(3);

    await applyEntries(
      deps,
      accounts.map((a) => credit(a, "opening", 10_000_000n)),
    );
    // Batches mixing every account: one script call per account, auto-pipelined per master.
    for (let round = 0; round < 5; round++) {
      const outcomes = await applyEntries(
        deps,
        accounts.map((a, i) => call(a, `c-${round}`, BigInt(100_000 * (i + 1)))),
      );
      expect(outcomes.every((o) => o.status === "applied")).toBe(true);
    }
    for (const [i, a] of accounts.entries()) {
      const expected = 10_000_000n - 5n * BigInt(100_000 * (i + 1));
      const snapshot = await store.snapshot(a);
      expect(snapshot !== "missing" && snapshot.balanceMicros).toBe(expected);
      expect(await rig.ledgerBalance(a)).toBe(expected);
      expect((await checkAccount(store, rig.deps.ledger, a)).status).toBe("ok");
    }
  });

  it("start-up asks every master for its maxmemory-policy and refuses the cluster if one may evict", async () => {
    const url = `redis://127.0.0.1:${cluster.ports[0]}`;
    await expect(refuseEvictingRedis(client, url)).resolves.toBeUndefined();
    // Each master in turn: the one that may evict is named, whichever it is.
    for (const master of client.nodes("master")) {
      const where = `${master.options.host}:${master.options.port}`;
      await master.config("SET", "maxmemory-policy", "allkeys-lru");
      try {
        await expect(refuseEvictingRedis(client, url)).rejects.toThrow(
          new RegExp(
            `^REDIS_URL: the Redis at ${where} has maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction`,
          ),
        );
      } finally {
        await master.config("SET", "maxmemory-policy", "noeviction");
      }
    }
    expect(client.nodes("master")).toHaveLength(3);
  });

  it("call sessions too: held and settled in each account's own slot", async () => {
    const rig = await balanceRig(scope);
    const store = new RedisBalanceStore(client);
    const calls = new RedisCallStore(client);
    const deps = { ...rig.deps, store };
    const accounts = await Promise.all(Array.from({ length: 12 }, () => rig.newAccount()));
    scope.defer(() => Promise.all(accounts.map((a) => store.forget(a))));
    await applyEntries(
      deps,
      accounts.map((a) => credit(a, "opening", 10_000_000n)),
    );
    const timing = { graceMs: 60_000, keepClosedMs: 60_000 };
    const meta = { direction: "outbound" as const, to: "+442071234567", features: [] };
    const started = await Promise.all(
      accounts.map((a) => calls.start(a, "s-1", meta, [{ seconds: 300, holdMicros: 500_000n }], timing)),
    );
    for (const reply of started) expect(reply !== "missing" && reply.outcome).toBe("granted");
    const outcomes = await applyEntries(
      deps,
      accounts.map((a) => call(a, "s-1", 300_000n)),
    );
    expect(outcomes.every((o) => o.status === "applied")).toBe(true);
    for (const a of accounts) {
      const listed = await calls.list(a, timing);
      expect(listed !== "missing" && listed.othersHeldMicros).toBe(0n);
      expect(listed !== "missing" && listed.balanceMicros).toBe(9_700_000n);
    }
  });
});
