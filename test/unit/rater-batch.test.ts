/**
 * The rater's batch handler on the in-memory ports, a recording producer and outbox:
 * what it publishes, dead-letters and records for one batch, its crash points, and a
 * record the ledger refuses, in milliseconds. rater.test.ts and the chaos suite run the
 * same handler in a real process on the real servers.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { singlePlanBook } from "../../src/adapters/postgres/rate-table-watcher.js";
import type { AvroRegistry } from "../../src/adapters/registry/avro.js";
import type { Batch, OutgoingMessage } from "../../src/adapters/kafka/types.js";
import type { FaultPoint, Faults } from "../../src/balances/faults.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { validateCdr } from "../../src/core/cdr.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { RecordRefusedError } from "../../src/errors.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { createBatchHandler, type RaterDeps } from "../../src/pipeline/rater.js";
import { topicNames } from "../../src/pipeline/topics.js";
import { baseCdr, table } from "../support/decks.js";
import { MemoryBalanceStore, MemoryLedger } from "../support/memory-ports.js";
import { entry } from "../support/port-conformance.js";

const deck = table(["44,UK,outbound,0.06,0.01,60,1,2026-01-01"]);
const controls = { heartbeat: () => Promise.resolve(), isStale: () => false };
class Crash extends Error {}

function rig(faults?: { point: FaultPoint }) {
  const store = new MemoryBalanceStore();
  const ledger = new MemoryLedger();
  ledger.addAccount("acme");
  const sent: Record<string, OutgoingMessage[]> = {};
  const published: string[] = [];
  const logger = createLogger("silent", "test");
  // A crash is a SIGKILL: the handler stops there (it does not retry what it threw).
  let crashed = false;
  const crash: Faults = {
    reach(p) {
      if (p === faults?.point && !crashed) {
        crashed = true;
        throw new Crash(p);
      }
    },
  };
  const deps: RaterDeps = {
    // The rater and its write path reach their points through one Faults, as in `run`.
    write: { store, ledger, logger, faults: crash },
    registry: {} as AvroRegistry, // JSON records only
    producer: {
      send: (topic, messages) => {
        (sent[topic] ??= []).push(...messages);
        return Promise.resolve();
      },
      disconnect: () => Promise.resolve(),
    },
    outbox: {
      publish: (ids: string[]) => (published.push(...ids), Promise.resolve()),
    } as unknown as RaterDeps["outbox"],
    plans: singlePlanBook(deck),
    topics: topicNames(),
    logger,
    metrics: createMetrics(new Registry()),
    faults: crash,
    stopping: () => crashed,
  };
  return { store, ledger, sent, published, deps };
}

const record = (offset: number, value: unknown): Batch["messages"][number] => ({
  offset: String(offset),
  key: Buffer.from("acme"),
  value: Buffer.from(typeof value === "string" ? value : JSON.stringify(value)),
  headers: {},
  timestamp: "0",
});

const cdrs = [
  { ...baseCdr, cdr_id: "c-1", duration_seconds: 125 },
  { ...baseCdr, cdr_id: "c-2", duration_seconds: 4_000 },
  { ...baseCdr, cdr_id: "c-1", duration_seconds: 125 }, // sent twice
  { ...baseCdr, cdr_id: "c-3", to: "+33123456789" }, // no rate
  { ...baseCdr, cdr_id: "c-4", account_id: "nobody" },
];
const batch: Batch = {
  topic: "cdrs",
  partition: 0,
  highWatermark: "6",
  messages: [...cdrs.map((c, i) => record(i, c)), record(5, "{not json")],
};
const charge = (c: unknown) => {
  const v = validateCdr(c);
  const r = v.ok ? rateCdr(deck, v.cdr) : undefined;
  return r?.ok ? r.chargeMicros : 0n;
};

describe("the rater's batch handler (in memory)", () => {
  it("rates, debits once, dead-letters each bad record with its code, publishes the events", async () => {
    const r = rig();
    await applyEntries(r.deps.write, [entry("acme", "credit:open", 5_500_000n)]);
    await createBatchHandler(r.deps)(batch, controls);
    expect(r.ledger.entries.filter((e) => e.kind === "call").map((e) => [e.key, -e.amountMicros])).toEqual([
      ["cdr:c-1", charge(cdrs[0])],
      ["cdr:c-2", charge(cdrs[1])],
    ]);
    expect(r.ledger.balance("acme")).toBe(5_500_000n - charge(cdrs[0]) - charge(cdrs[1]));
    expect(
      (r.sent["cdrs.dlq"] ?? []).map((m) => [m.headers!["x-source-offset"], m.headers!["x-error-code"]]),
    ).toEqual([
      ["3", "no_rate"],
      ["5", "invalid_cdr"],
      ["4", "unknown_account"],
    ]);
    expect(
      (r.sent["rated-cdrs"] ?? []).map((m) => (JSON.parse(String(m.value)) as { cdr_id: string }).cdr_id),
    ).toEqual(["c-1", "c-2", "c-1"]);
    expect(r.published).toEqual(r.ledger.events.filter((e) => e.type !== "unblocked").map((e) => e.eventId));
    expect(r.ledger.events.map((e) => e.type)).toEqual(["unblocked", "low_balance", "blocked"]);
  });

  it.each(["after_dedupe", "after_redis", "after_ledger", "after_confirm", "after_publish"] as const)(
    "a crash at %s, then the redelivery: each call debited once, every message published",
    async (point) => {
      const r = rig({ point });
      await applyEntries({ ...r.deps.write, faults: undefined }, [entry("acme", "credit:open", 5_500_000n)]);
      await expect(createBatchHandler(r.deps)(batch, controls)).rejects.toBeInstanceOf(Crash);
      const none = { reach: () => undefined };
      await createBatchHandler({ ...r.deps, faults: none, write: { ...r.deps.write, faults: none } })(
        batch,
        controls,
      );
      expect(r.ledger.entries.filter((e) => e.kind === "call").map((e) => e.key)).toEqual([
        "cdr:c-1",
        "cdr:c-2",
      ]);
      expect(r.ledger.balance("acme")).toBe(5_500_000n - charge(cdrs[0]) - charge(cdrs[1]));
      // Events recorded before the crash are the outbox sweep's to publish (the
      // redelivery finds their entries recorded); the others go with the batch.
      const calls = r.ledger.events.filter((e) => e.type !== "unblocked").map((e) => e.eventId);
      const recordedBeforeCrash = point === "after_ledger" || point === "after_confirm";
      expect(new Set(r.published)).toEqual(new Set(recordedBeforeCrash ? [] : calls));
      expect(calls.length).toBeGreaterThan(0);
      expect(
        new Set(
          (r.sent["rated-cdrs"] ?? [])
            .map((m) => JSON.parse(String(m.value)) as { cdr_id: string })
            .map((c) => c.cdr_id),
        ),
      ).toEqual(new Set(["c-1", "c-2"]));
    },
  );

  it("a record the ledger refuses is found by halving the batch and dead-lettered alone", async () => {
    const r = rig();
    await applyEntries(r.deps.write, [entry("acme", "credit:open", 5_500_000n)]);
    r.ledger.beforeRecord = (applied) => {
      if (applied.some((a) => a.request.key === "cdr:c-2"))
        throw new RecordRefusedError("the ledger refused c-2");
    };
    await createBatchHandler(r.deps)(batch, controls);
    expect(r.ledger.entries.filter((e) => e.kind === "call").map((e) => e.key)).toEqual(["cdr:c-1"]);
    expect(
      (r.sent["cdrs.dlq"] ?? []).find((m) => m.headers!["x-source-offset"] === "1")?.headers,
    ).toMatchObject({
      "x-error-code": "invalid_cdr",
      "x-error-message": "the ledger refused c-2",
    });
    expect(r.ledger.balance("acme")).toBe(5_500_000n - charge(cdrs[0]));
    // Redis keeps nothing of the refused record: the account is restored from the ledger.
    expect(await r.store.snapshot("acme")).toBe("missing");
  });
});
