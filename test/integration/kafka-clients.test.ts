/**
 * Both clients behind the project's Kafka interface do the same job on the real broker:
 * keys, values and headers intact, in order per partition, offsets committed only
 * through the handler's return, end and committed offsets reported alike, and
 * librdkafka-compressed batches read. The confluent client is an optional native
 * dependency: where it is not installed, what it must do is say how to install it.
 */
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { createKafkaClient, kafkaClientName, type KafkaClientName } from "../../src/adapters/kafka/select.js";
import type { IncomingMessage } from "../../src/adapters/kafka/types.js";
import { config, Scope, testLogger, uniqueName } from "../support/services.js";
import { eventually } from "../support/rater.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

// By a variable: where the optional client is not installed, its types are not either.
const CONFLUENT: string = "@confluentinc/kafka-javascript";
const confluentInstalled = await import(CONFLUENT).then(
  () => true,
  () => false,
);

async function roundTrip(client: KafkaClientName): Promise<void> {
  const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger: testLogger, client });
  const admin = await kafka.admin();
  scope.defer(() => admin.disconnect());
  const topic = uniqueName(`t_client_${client}`);
  await admin.createTopics([{ topic, partitions: 2 }]);
  scope.defer(() => admin.deleteTopics([topic]));
  expect(await admin.listTopics()).toContain(topic);

  const producer = await kafka.producer();
  scope.defer(() => producer.disconnect());
  const sent = Array.from({ length: 300 }, (_, i) => ({
    key: `acct-${i % 7}`,
    value: JSON.stringify({ n: i }),
    headers: { "x-n": String(i) },
  }));
  await producer.send(topic, sent);
  // kcat (librdkafka) writes a zstd batch: the consumer must read it too.
  execFileSync("kcat", ["-P", "-b", config.kafkaBrokers.join(","), "-t", topic, "-z", "zstd", "-K", "|"], {
    input: Array.from(
      { length: 100 },
      (_, i) => `acct-${(300 + i) % 7}|${JSON.stringify({ n: 300 + i })}`,
    ).join("\n"),
  });
  const ends = await admin.endOffsets(topic);
  expect(ends.reduce((n, p) => n + Number(p.offset), 0)).toBe(400);

  const group = uniqueName("g_client");
  const consumer = await kafka.consumer({ groupId: group, maxWaitTimeMs: 100 });
  scope.defer(() => consumer.disconnect());
  await consumer.subscribe([topic]);
  const seen: { partition: number; message: IncomingMessage }[] = [];
  await consumer.run(async (batch) => {
    for (const message of batch.messages) seen.push({ partition: batch.partition, message });
    return Promise.resolve();
  });
  await eventually(
    async () => {
      const committed = await admin.committedOffsets(group, topic);
      return committed.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) === 400;
    },
    30_000,
    "every offset committed",
  );

  expect(seen).toHaveLength(400);
  const values = seen.map((s) => (JSON.parse(s.message.value!.toString()) as { n: number }).n);
  expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => i));
  for (const { message } of seen) {
    const n = (JSON.parse(message.value!.toString()) as { n: number }).n;
    expect(message.key!.toString()).toBe(`acct-${n % 7}`);
    if (n < 300) expect(message.headers["x-n"]!.toString()).toBe(String(n));
  }
  // Per key (so per partition), in the order produced. (kcat partitions keys with its own
  // hash, so its records are left out here.)
  for (let k = 0; k < 7; k++) {
    const ofKey = seen
      .filter((s) => s.message.key!.toString() === `acct-${k}`)
      .filter((s) => (JSON.parse(s.message.value!.toString()) as { n: number }).n < 300)
      .map((s) => (JSON.parse(s.message.value!.toString()) as { n: number }).n);
    expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
  }
}

describe("Kafka clients behind the project's interface", () => {
  it("kafkajs: round trip, headers, order per key, commits, offsets, zstd from librdkafka", async () => {
    await roundTrip("kafkajs");
  });

  if (confluentInstalled) {
    it("confluent (librdkafka): the same round trip", async () => {
      await roundTrip("confluent");
    });
  } else {
    it("confluent, not installed here: refuses with how to install it", async () => {
      await expect(
        createKafkaClient({ brokers: config.kafkaBrokers, logger: testLogger, client: "confluent" }),
      ).rejects.toThrow(/CKJS_LINKING=dynamic/);
    });
  }

  it("KAFKA_CLIENT must name a known client", () => {
    expect(kafkaClientName(undefined)).toBe("kafkajs");
    expect(kafkaClientName("confluent")).toBe("confluent");
    expect(() => kafkaClientName("rdkafka")).toThrow(
      /KAFKA_CLIENT: "rdkafka" is not one of kafkajs, confluent/,
    );
  });
});
