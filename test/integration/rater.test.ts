/**
 * `ratestream run` end to end on the real Kafka, registry, Redis and Postgres: mixed
 * producers and formats, dead letters and replay, SIGKILL at every fault point,
 * duplicates, Redis wiped mid-stream, a rebalance, and graceful shutdown.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createAvroRegistry, SCHEMA_FILES, valueSubject } from "../../src/adapters/registry/avro.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { FAULT_POINTS } from "../../src/balances/faults.js";
import { ratestream } from "../support/cli.js";
import { eventually, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { privateRedis } from "../support/private-redis.js";
import { config, Scope } from "../support/services.js";
import { expectedCrossings, streamRig, type StreamRig } from "../support/stream.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

function rater(s: StreamRig, fault?: string, env?: Record<string, string>): RaterProcess {
  const process = startRater({
    databaseUrl: s.rig.databaseUrl,
    topicPrefix: s.topicPrefix,
    group: s.group,
    fault,
    env,
  });
  scope.defer(() => process.stop("SIGKILL"));
  return process;
}

async function expectExactBalances(s: StreamRig, expected: Map<string, bigint>): Promise<void> {
  for (const account of s.accounts) {
    expect(await s.rig.ledgerBalance(account), `ledger ${account}`).toBe(expected.get(account));
    expect((await checkAccount(s.rig.deps.store, s.rig.deps.ledger, account)).status).not.toBe("drift");
    const crossings = await expectedCrossings(s.rig, account);
    const events: Record<string, number> = {};
    for (const e of await s.rig.events(account)) events[e.type] = (events[e.type] ?? 0) + 1;
    expect(events, `events of ${account}`).toEqual(crossings);
  }
}

async function topicCount(s: StreamRig, topic: string): Promise<number> {
  return (await s.admin.endOffsets(topic)).reduce((sum, p) => sum + Number(p.offset), 0);
}

describe("ratestream run", () => {
  it("rates JSON, Avro and librdkafka-compressed CDRs; balances exact; events once per crossing", async () => {
    const s = await streamRig(scope);
    const cdrs = s.cdrs(1_200, 1, { unratedShare: 0.02 });
    const [json, avro, lz4, zstd] = [
      cdrs.slice(0, 400),
      cdrs.slice(400, 700),
      cdrs.slice(700, 950),
      cdrs.slice(950),
    ];

    const registry = createAvroRegistry(config.schemaRegistryUrl);
    const subject = valueSubject(s.topics.cdrs);
    scope.defer(async () => {
      const base = `${config.schemaRegistryUrl}/subjects/${encodeURIComponent(subject)}`;
      await fetch(base, { method: "DELETE" });
      await fetch(`${base}?permanent=true`, { method: "DELETE" });
    });
    const schemaId = await registry.registerFile(subject, SCHEMA_FILES.cdr);

    const r = rater(s);
    await waitReady(r);
    await s.sendJson(json);
    for (let i = 0; i < avro.length; i += 100) {
      const chunk = avro.slice(i, i + 100);
      const values = await Promise.all(chunk.map((c) => registry.encode(schemaId, { surcharges: [], ...c })));
      await s.producer.send(
        s.topics.cdrs,
        chunk.map((c, j) => ({ key: c.account_id, value: values[j]! })),
      );
    }
    s.sendWithKcat(lz4, "lz4");
    s.sendWithKcat(zstd, "zstd");

    await eventually(() => s.caughtUp(), 60_000, "the rater to commit every record");
    expect(await s.callEntries()).toBe(s.acceptedCount(cdrs));
    await expectExactBalances(s, s.expectedBalances(cdrs));
    expect(await topicCount(s, s.topics.ratedCdrs)).toBe(s.acceptedCount(cdrs));
    expect(await topicCount(s, s.topics.deadLetters)).toBe(cdrs.length - s.acceptedCount(cdrs));

    const metrics = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^ratestream_cdrs_rated_total ${s.acceptedCount(cdrs)}$`, "m"));
    expect(metrics).toMatch(/^ratestream_cdrs_rejected_total\{code="no_rate"\} \d+$/m);

    // Graceful shutdown: finishes, commits, exits 0 in bounded time.
    const started = Date.now();
    expect(await r.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("dead-letters every kind of bad record with its reason and headers while good ones flow; replay charges once", async () => {
    const s = await streamRig(scope);
    const good = s.cdrs(50, 2);
    const [account] = s.accounts;
    const valid = good[0]!;
    const bad: [string, string | Buffer][] = [
      ["invalid_cdr", JSON.stringify({ ...valid, cdr_id: "bad-1", duration_seconds: -5 })],
      ["invalid_cdr", JSON.stringify({ ...valid, cdr_id: "bad-2", to: "not-a-number" })],
      ["decode_error", Buffer.from([0xde, 0xad, 0xbe, 0xef])],
      ["decode_error", Buffer.from([0, 0, 0, 0x7f, 0x7f, 2, 4])], // unknown schema id
      ["decode_error", Buffer.from("[1,2,3]")],
      ["no_rate", JSON.stringify({ ...valid, cdr_id: "bad-3", to: "+99912345678" })],
      ["unknown_account", JSON.stringify({ ...valid, cdr_id: "bad-4", account_id: "not-yet-a-customer" })],
    ];
    const r = rater(s);
    await waitReady(r);
    await s.sendJson(good.slice(0, 25));
    await s.producer.send(
      s.topics.cdrs,
      bad.map(([, value]) => ({ key: account!, value })),
    );
    await s.sendJson(good.slice(25));
    await eventually(() => s.caughtUp(), 60_000, "the rater to commit every record");
    expect(await s.callEntries()).toBe(s.acceptedCount(good));

    const { execFileSync } = await import("node:child_process");
    const dlq = execFileSync(
      "kcat",
      ["-C", "-b", config.kafkaBrokers.join(","), "-t", s.topics.deadLetters, "-e", "-q", "-f", "%h\n"],
      { encoding: "utf8" },
    )
      .trim()
      .split("\n");
    expect(dlq.map((h) => /x-error-code=([a-z_]+)/.exec(h)?.[1]).sort()).toEqual(
      bad.map(([code]) => code).sort(),
    );
    for (const headers of dlq) {
      expect(headers).toMatch(
        new RegExp(
          `x-source-topic=${s.topics.cdrs.replace(/\./g, "\\.")},x-source-partition=\\d,x-source-offset=\\d+`,
        ),
      );
      expect(headers).toMatch(/x-error-message=\S/);
    }

    // Fix the deck (a new version prices 999) and the account, then replay twice: each call is charged once.
    const { readFile } = await import("node:fs/promises");
    const { importDeckSet } = await import("../../src/adapters/postgres/rate-versions.js");
    const rates = await readFile("rates/rates.csv", "utf8");
    await importDeckSet(s.rig.pool, {
      rates: { file: "rates.csv", text: `${rates}999,Satellite,outbound,1.000000,0,60,60,2026-01-01\n` },
      surcharges: { file: "surcharges.csv", text: await readFile("rates/surcharges.csv", "utf8") },
    });
    await s.rig.pool.query(
      "insert into accounts (account_id, admin_email) values ('not-yet-a-customer', 'x@y.example')",
    );
    scope.defer(() => s.rig.deps.store.forget("not-yet-a-customer"));
    await eventually(async () => (await fetch(`http://127.0.0.1:${r.port}/metrics`)).ok, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the rater switches version on NOTIFY
    const env = { DATABASE_URL: s.rig.databaseUrl };
    for (let i = 0; i < 2; i++) {
      const replay = await ratestream(["dlq", "replay", "--topic-prefix", s.topicPrefix], { env });
      expect(JSON.parse(replay.stdout)).toEqual({
        scanned: bad.length,
        replayed: 2,
        by_code: { no_rate: 1, unknown_account: 1 },
      });
      await eventually(() => s.caughtUp(), 60_000, "the replayed records to be handled");
    }
    const charged = await s.rig.pool.query<{ cdr_id: string; amount_micros: string; rate_version: string }>(
      "select cdr_id, amount_micros, rate_version from ledger_entries where cdr_id in ('bad-3', 'bad-4') order by cdr_id",
    );
    expect(charged.rows.map((r) => [r.cdr_id, r.rate_version])).toEqual([
      ["bad-3", "2"],
      ["bad-4", "2"],
    ]);
    expect(await s.callEntries()).toBe(s.acceptedCount(good) + 2);
    expect(await topicCount(s, s.topics.deadLetters)).toBe(bad.length);
  });

  it("loses and doubles nothing through SIGKILLs at every fault point, duplicates, a Redis wipe and restarts", async () => {
    const s = await streamRig(scope);
    const all: ReturnType<typeof s.cdrs> = [];
    const points = FAULT_POINTS.flatMap((p) => [p, p, p]);
    for (const [round, point] of points.entries()) {
      const chunk = s.cdrs(120, 100 + round);
      all.push(...chunk);
      await s.sendJson(chunk);
      await s.sendJson(chunk.slice(0, 20)); // a switch re-sends some
      if (round === 7) await s.rig.wipeRedis(); // Redis restarts empty mid-stream
      const r = rater(s, point);
      const outcome = await Promise.race([
        r.exited,
        new Promise((resolve) => setTimeout(() => resolve("alive"), 30_000)),
      ]);
      expect(outcome, `${point} in round ${round}: the process must have killed itself there`).toEqual({
        code: null,
        signal: "SIGKILL",
      });
    }
    const last = rater(s);
    await waitReady(last);
    await eventually(() => s.caughtUp(), 90_000, "the last rater to finish the stream");
    expect(await s.callEntries()).toBe(s.acceptedCount(all));
    await expectExactBalances(s, s.expectedBalances(all));
    const reconcile = await ratestream(["reconcile"], { env: { DATABASE_URL: s.rig.databaseUrl } });
    expect(JSON.parse(reconcile.stdout)).toMatchObject({ drifted: 0 });
    // Events a crash left unpublished are swept out by the running rater.
    await eventually(
      async () => {
        const { rows } = await s.rig.pool.query<{ n: string }>(
          "select count(*) as n from balance_events where published_at is null",
        );
        return rows[0]!.n === "0";
      },
      20_000,
      "the outbox to drain",
    );
    expect(await last.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  }, 300_000);

  it("shares partitions between two raters; a rebalance mid-stream loses and doubles nothing", async () => {
    const s = await streamRig(scope);
    const cdrs = s.cdrs(2_000, 3);
    const a = rater(s);
    await waitReady(a);
    await s.sendJson(cdrs.slice(0, 700));
    const b = rater(s);
    await waitReady(b);
    await s.sendJson(cdrs.slice(700, 1_400));
    expect(await a.stop("SIGTERM")).toEqual({ code: 0, signal: null }); // b takes a's partitions
    await s.sendJson(cdrs.slice(1_400));
    await eventually(() => s.caughtUp(), 90_000, "b to finish the stream");
    expect(await s.callEntries()).toBe(s.acceptedCount(cdrs));
    await expectExactBalances(s, s.expectedBalances(cdrs));
  }, 180_000);

  it("rides out Redis going away and coming back empty: retries, restores from the ledger, dead-letters nothing", async () => {
    const s = await streamRig(scope);
    const redis = privateRedis(26_000 + Math.floor(Math.random() * 3_000));
    await redis.start();
    scope.defer(() => redis.kill());
    const r = rater(s, undefined, { REDIS_URL: redis.url });
    await waitReady(r);
    const first = s.cdrs(600, 4);
    await s.sendJson(first);
    await eventually(() => s.caughtUp(), 60_000, "the first part to be handled");

    await redis.kill(); // Redis is gone, with every balance in it
    const second = s.cdrs(600, 5);
    await s.sendJson(second);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // batches fail and back off meanwhile
    expect(await s.caughtUp()).toBe(false);
    await redis.start(); // back, empty
    await eventually(() => s.caughtUp(), 90_000, "the rater to recover and finish");

    const all = [...first, ...second];
    expect(await s.callEntries()).toBe(s.acceptedCount(all));
    expect(await topicCount(s, s.topics.deadLetters)).toBe(0);
    for (const account of s.accounts) {
      expect(await s.rig.ledgerBalance(account)).toBe(s.expectedBalances(all).get(account));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
    expect(metrics).toMatch(/^ratestream_dependency_errors_total\{dependency="redis"\} [1-9]/m);
    expect(metrics).toMatch(/^ratestream_accounts_restored_total [1-9]/m);
    expect(await r.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  }, 180_000);
});
