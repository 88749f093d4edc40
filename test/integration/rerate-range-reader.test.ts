/**
 * The range read `rerate` uses (src/adapters/kafka/range-reader.ts), on the real broker
 * with both clients: from each partition's first record published at or after a time to
 * the end offsets, outside any existing group, committing nothing, finishing on its own.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createKafkaClient, type KafkaClientName } from "../../src/adapters/kafka/select.js";
import { config, Scope, testLogger, uniqueName } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const CONFLUENT: string = "@confluentinc/kafka-javascript";
const confluentInstalled = await import(CONFLUENT).then(
  () => true,
  () => false,
);

async function readsFromTime(client: KafkaClientName): Promise<void> {
  const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger: testLogger, client });
  const admin = await kafka.admin();
  scope.defer(() => admin.disconnect());
  const topic = uniqueName(`t_range_${client}`);
  await admin.createTopics([{ topic, partitions: 3 }]);
  scope.defer(() => admin.deleteTopics([topic]));
  const producer = await kafka.producer();
  scope.defer(() => producer.disconnect());

  const batch = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({ key: `acct-${(from + i) % 5}`, value: String(from + i) }));
  await producer.send(topic, batch(0, 50));
  await sleep(50);
  const fromMs = Date.now();
  await sleep(50);
  await producer.send(topic, batch(50, 70));

  const seen: number[] = [];
  const progress = await kafka.readFromTime({
    topic,
    fromMs,
    handler: async (b) => {
      for (const m of b.messages) seen.push(Number(m.value!.toString()));
      return Promise.resolve();
    },
  });
  expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 70 }, (_, i) => 50 + i));
  expect(progress).toEqual({ read: 70n, total: 70n });

  // Nothing published at or after the time: done at once, nothing read.
  const none = await kafka.readFromTime({
    topic,
    fromMs: Date.now() + 60_000,
    handler: () => Promise.resolve(),
  });
  expect(none).toEqual({ read: 0n, total: 0n });

  // A handler that fails fails the read, which stops.
  await expect(
    kafka.readFromTime({ topic, fromMs, handler: () => Promise.reject(new Error("handler failed")) }),
  ).rejects.toThrow("handler failed");
}

describe("range read from a time", () => {
  it("kafkajs", () => readsFromTime("kafkajs"), 60_000);
  it.runIf(confluentInstalled)("confluent", () => readsFromTime("confluent"), 60_000);
});
