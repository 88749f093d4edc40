/**
 * patches/kafkajs+2.2.4.patch (applied by `npm ci` through patch-package): the
 * producer groups a send's messages by partition in one pass. Upstream spreads each
 * partition's array per message, quadratic in the messages per partition; kafkajs is
 * unmaintained, and the fix (tulios/kafkajs#1576) was never released.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import kafkajs, { type ICustomPartitioner, type PartitionMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const file = require.resolve("kafkajs/src/producer/groupMessagesPerPartition.js");
type Message = { key: string; value: string };
const groupMessagesPerPartition = require(file) as (options: {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  messages: Message[];
  partitioner: ReturnType<ICustomPartitioner>;
}) => Record<string, Message[]>;

describe("the patched kafkajs producer", () => {
  it("is what npm ci installed", () => {
    expect(readFileSync(file, "utf8")).toContain("ratestream patch");
  });

  it("groups messages by the default partitioner, each partition in send order", () => {
    const partitionMetadata = Array.from({ length: 6 }, (_, partitionId): PartitionMetadata => ({
      partitionId,
      leader: 1,
      partitionErrorCode: 0,
      replicas: [1],
      isr: [1],
    }));
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `acct-${i % 97}`, value: String(i) }));
    const grouped = groupMessagesPerPartition({
      topic: "rated-cdrs",
      partitionMetadata,
      messages,
      partitioner,
    });

    const expected: Record<string, Message[]> = {};
    for (const message of messages) {
      const partition = partitioner({ topic: "rated-cdrs", partitionMetadata, message });
      (expected[partition] ??= []).push(message);
    }
    expect(grouped).toEqual(expected);
    expect(Object.keys(grouped).length).toBeGreaterThan(1);
    expect(Object.values(grouped).flat()).toHaveLength(messages.length);
  });

  it("returns nothing for a topic without partition metadata", () => {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    expect(
      groupMessagesPerPartition({ topic: "t", partitionMetadata: [], messages: [], partitioner }),
    ).toEqual({});
  });
});
