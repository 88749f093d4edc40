/**
 * Redis must not evict keys (SPEC §5, "No money stuck half way"): an evicted pending
 * hash makes a redelivered entry apply twice, an evicted state loses entries not yet
 * recorded. Every command that keeps balances in Redis refuses, at start-up, a Redis
 * whose maxmemory-policy is not noeviction: exit 2, naming REDIS_URL and the setting.
 * (A Redis with noeviction, the shared one, is what every other test starts against.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { allTopics, topicNames } from "../../src/pipeline/topics.js";
import { balanceRig } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { privateRedis, type PrivateRedis } from "../support/private-redis.js";
import { startCommand, startRater, type RaterProcess } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

// A redis-server of this file's own that may evict, as a cache would be configured.
let lru: PrivateRedis;
beforeAll(async () => {
  lru = privateRedis(29_000 + Math.floor(Math.random() * 1_000), ["--maxmemory-policy", "allkeys-lru"]);
  await lru.start();
});
afterAll(() => lru?.kill());

const REFUSAL = /REDIS_URL: .*maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction/;

/** The process's exit, or its output if it is still running after `ms` (then stopped). */
async function exitWithin(
  process: RaterProcess,
  ms: number,
): Promise<{ code: number | null; output: string }> {
  const timeout = new Promise<"running">((resolve) => setTimeout(() => resolve("running"), ms).unref());
  const result = await Promise.race([process.exited, timeout]);
  if (result === "running") {
    await process.stop("SIGTERM");
    return { code: null, output: `still running after ${ms} ms:\n${process.output()}` };
  }
  return { code: result.code, output: process.output() };
}

describe("a Redis that may evict keys", () => {
  it("`credits add` refuses it with exit 2, naming REDIS_URL and the setting; nothing is credited", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const result = await ratestream(
      ["credits", "add", "--account", a, "--amount", "10.00", "--reference", "INV-1"],
      { env: { DATABASE_URL: rig.databaseUrl, REDIS_URL: lru.url } },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(REFUSAL);
    expect(result.stdout).toBe("");
    expect(await rig.ledgerBalance(a)).toBe(0n);
  });

  it("`accounts set` refuses it with exit 2 before changing anything", async () => {
    const rig = await balanceRig(scope);
    const a = await rig.newAccount();
    const result = await ratestream(["accounts", "set", "--id", a, "--recharge-mode", "offline"], {
      env: { DATABASE_URL: rig.databaseUrl, REDIS_URL: lru.url },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(REFUSAL);
    const { rows } = await rig.pool.query("select recharge_mode from accounts where account_id = $1", [a]);
    expect(rows).toEqual([{ recharge_mode: "online" }]);
  });

  it("`ratestream run` refuses to start: exit 2, naming REDIS_URL and the setting", async () => {
    const rig = await balanceRig(scope);
    const topicPrefix = `${uniqueName("evict")}.`;
    // Only a rater that starts (the defect) creates its topics.
    scope.defer(async () => {
      const admin = await scope.admin();
      await admin.deleteTopics(allTopics(topicNames(topicPrefix))).catch(() => undefined);
    });
    const rater = startRater({
      databaseUrl: rig.databaseUrl,
      topicPrefix,
      group: uniqueName("evict"),
      env: { REDIS_URL: lru.url },
    });
    const result = await exitWithin(rater, 20_000);
    expect(result.output).toMatch(REFUSAL);
    expect(result.code).toBe(2);
  }, 40_000);

  it("`recharge-worker` refuses to start: exit 2, naming REDIS_URL and the setting", async () => {
    const rig = await balanceRig(scope);
    const topicPrefix = `${uniqueName("evict")}.`;
    scope.defer(async () => {
      const admin = await scope.admin();
      await admin.deleteTopics([topicNames(topicPrefix).balanceEvents]).catch(() => undefined);
    });
    const worker = startCommand(
      ["recharge-worker", "--topic-prefix", topicPrefix, "--group", uniqueName("evict")],
      { DATABASE_URL: rig.databaseUrl, REDIS_URL: lru.url, STRIPE_SECRET_KEY: "sk_test_evict" },
    );
    const result = await exitWithin(worker, 20_000);
    expect(result.output).toMatch(REFUSAL);
    expect(result.code).toBe(2);
  }, 40_000);

  it("`check` reports Redis as FAIL with the setting to change, exit 2", async () => {
    const result = await ratestream(["check"], { env: { REDIS_URL: lru.url } });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^redis\s+FAIL\s.*maxmemory-policy allkeys-lru.*noeviction/m);
  });
});
