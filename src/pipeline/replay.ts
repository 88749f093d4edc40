/**
 * `dlq replay`: sends dead-lettered records back to `cdrs`, byte for byte with their
 * key, once the deck or the account is fixed. Only completed calls are replayed by
 * default (no_rate, unknown_account). Replaying twice doubles nothing: the ledger's
 * unique cdr_id makes the second pass a duplicate.
 */
import type { KafkaClient, OutgoingMessage } from "../adapters/kafka/types.js";
import type { Topics } from "./topics.js";

export interface ReplayOptions {
  codes: string[];
  /** Only records dead-lettered at or after this instant (ms since the epoch). */
  sinceMs?: number;
}

export interface ReplaySummary {
  scanned: number;
  replayed: number;
  by_code: Record<string, number>;
}

export async function replayDeadLetters(
  kafka: KafkaClient,
  topics: Topics,
  options: ReplayOptions,
): Promise<ReplaySummary> {
  const admin = await kafka.admin();
  const ends = new Map(
    (await admin.endOffsets(topics.deadLetters)).map((p) => [p.partition, BigInt(p.offset)]),
  );
  await admin.disconnect();
  const summary: ReplaySummary = { scanned: 0, replayed: 0, by_code: {} };
  const remaining = new Set([...ends].filter(([, end]) => end > 0n).map(([p]) => p));
  if (remaining.size === 0) return summary;

  const producer = await kafka.producer();
  // A group of its own each time: every replay reads the whole dead-letter topic up to now.
  const consumer = await kafka.consumer({
    groupId: `ratestream-dlq-replay-${Date.now()}-${process.pid}`,
    maxWaitTimeMs: 200,
  });
  try {
    await consumer.subscribe([topics.deadLetters]);
    await new Promise<void>((resolve, reject) => {
      consumer
        .run(async (batch) => {
          const end = ends.get(batch.partition) ?? 0n;
          const out: OutgoingMessage[] = [];
          for (const message of batch.messages) {
            if (BigInt(message.offset) >= end) break;
            summary.scanned++;
            const code = message.headers["x-error-code"]?.toString() ?? "";
            if (!options.codes.includes(code)) continue;
            if (options.sinceMs !== undefined && Number(message.timestamp) < options.sinceMs) continue;
            out.push({ key: message.key, value: message.value });
            summary.by_code[code] = (summary.by_code[code] ?? 0) + 1;
          }
          if (out.length > 0) await producer.send(topics.cdrs, out);
          summary.replayed += out.length;
          if (BigInt(batch.messages.at(-1)!.offset) + 1n >= end) {
            remaining.delete(batch.partition);
            if (remaining.size === 0) resolve();
          }
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
  return summary;
}
