/**
 * Switches produce with librdkafka: an independent producer (kcat) writes batches with
 * each codec, and the project's consumer must read every record of each.
 */
import { execFileSync } from "node:child_process";
import kafkajs from "kafkajs";
import { afterEach, describe, expect, it } from "vitest";
import type { IncomingMessage } from "../../src/adapters/kafka/types.js";
import { config, Scope, uniqueName } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const RECORDS = 500;

/** Counts how many batches kafkajs handed to each codec's decoder. */
function countDecompressions(type: number): { calls: number } {
  const counter = { calls: 0 };
  const codecs = kafkajs.CompressionCodecs as Record<
    number,
    () => { decompress(b: Buffer): Promise<Buffer> }
  >;
  const original = codecs[type]!;
  codecs[type] = () => {
    const codec = original();
    return {
      ...codec,
      decompress: (buffer: Buffer) => {
        counter.calls++;
        return codec.decompress(buffer);
      },
    };
  };
  scope.defer(() => {
    codecs[type] = original;
  });
  return counter;
}

describe("consuming batches compressed by librdkafka (kcat -z)", () => {
  const { CompressionTypes } = kafkajs;
  it.each([
    ["gzip", CompressionTypes.GZIP],
    ["snappy", CompressionTypes.Snappy],
    ["lz4", CompressionTypes.LZ4],
    ["zstd", CompressionTypes.ZSTD],
  ])("reads every record of %s batches, keys and values intact", async (codec, type) => {
    const topic = await scope.topic(`codec_${codec}`);
    const lines: string[] = [];
    for (let i = 0; i < RECORDS; i++) {
      // Repetitive JSON, like CDRs: compresses well, so librdkafka keeps the compression.
      lines.push(`acct-${i % 7}|{"cdr_id":"c-${i}","account_id":"acct-${i % 7}","duration_seconds":${i}}`);
    }
    execFileSync(
      "kcat",
      ["-P", "-b", config.kafkaBrokers.join(","), "-t", topic, "-z", codec, "-K", "|", "-X", "linger.ms=50"],
      { input: lines.join("\n") + "\n" },
    );

    const kafka = scope.kafka();
    const consumer = await kafka.consumer({ groupId: uniqueName("g"), maxWaitTimeMs: 100 });
    scope.defer(() => consumer.disconnect());
    const decompressions = countDecompressions(type);
    const received: IncomingMessage[] = [];
    const done = new Promise<void>((resolve) => {
      void consumer.subscribe([topic]).then(() =>
        consumer.run(async (batch) => {
          received.push(...batch.messages);
          if (received.length >= RECORDS) resolve();
          return Promise.resolve();
        }),
      );
    });
    await done;

    expect(decompressions.calls).toBeGreaterThan(0);
    expect(received).toHaveLength(RECORDS);
    const got = received.map((m) => `${m.key?.toString()}|${m.value?.toString()}`);
    expect(got).toEqual(lines);
  });
});
