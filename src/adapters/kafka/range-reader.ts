/**
 * Reads a topic back from a point in time, for `rerate` (SPEC §9): the first record
 * published at or after `fromMs` in each partition (offsets-for-times), up to the end
 * offsets as they stand when the read starts. It joins none of the rater's groups and
 * commits nothing: the consumer belongs to a throw-away group of its own (both clients
 * only fetch through a group), whose fetch position is moved by seek and never
 * committed, and which is deleted afterwards.
 */
import { randomBytes } from "node:crypto";
import { toIncoming, type ClientBatchPayload } from "./batches.js";
import type { KafkajsStyleAdmin } from "./admin.js";
import type { RangeProgress, RangeReadOptions } from "./types.js";

export interface RangeAdmin extends KafkajsStyleAdmin {
  fetchTopicOffsetsByTimestamp(
    topic: string,
    timestamp?: number,
  ): Promise<{ partition: number; offset: string }[]>;
  deleteGroups(groupIds: string[]): Promise<unknown>;
}

/** What each client's consumer must offer for a range read. */
export interface RangeConsumer {
  subscribe(topic: string): Promise<void>;
  /** Starts fetching; each batch is handed over, nothing is committed. */
  run(eachBatch: (payload: ClientBatchPayload) => Promise<void>): Promise<void>;
  seek(position: { topic: string; partition: number; offset: string }): void;
  disconnect(): Promise<void>;
}

export async function readTopicRange(
  admin: RangeAdmin,
  newConsumer: (groupId: string) => Promise<RangeConsumer>,
  options: RangeReadOptions,
): Promise<RangeProgress> {
  const { topic } = options;
  const starts = await admin.fetchTopicOffsetsByTimestamp(topic, options.fromMs);
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  const ranges = new Map<number, { start: bigint; end: bigint }>();
  for (const { partition, offset } of starts) {
    const end = ends.get(partition) ?? 0n;
    // A negative offset: nothing at or after the time, so nothing to read there.
    const start = BigInt(offset) < 0n ? end : BigInt(offset);
    if (start < end) ranges.set(partition, { start, end });
  }
  const progress: RangeProgress = { read: 0n, total: 0n };
  for (const r of ranges.values()) progress.total += r.end - r.start;
  if (ranges.size === 0) return progress;

  const groupId = `ratestream-rerate-${randomBytes(6).toString("hex")}`;
  const consumer = await newConsumer(groupId);
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const finished = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let failed = false;
  try {
    await consumer.subscribe(topic);
    await consumer.run(async (payload) => {
      const { partition, messages } = payload.batch;
      const range = ranges.get(partition);
      if (failed || range === undefined || messages.length === 0) return;
      const wanted = messages.filter((m) => {
        const offset = BigInt(m.offset);
        return offset >= range.start && offset < range.end;
      });
      try {
        if (wanted.length > 0)
          await options.handler({
            topic,
            partition,
            highWatermark: payload.batch.highWatermark,
            messages: wanted.map(toIncoming),
          });
      } catch (err) {
        failed = true;
        settle.reject(err);
        return;
      }
      const last = messages[messages.length - 1]!.offset;
      // Moves the fetch position on (in memory only: nothing is committed).
      payload.resolveOffset(last);
      progress.read += BigInt(wanted.length);
      options.onProgress?.(progress);
      if (BigInt(last) >= range.end - 1n) {
        ranges.delete(partition);
        if (ranges.size === 0) settle.resolve();
      }
    });
    for (const [partition, { start }] of ranges)
      consumer.seek({ topic, partition, offset: start.toString() });
    await finished;
    return progress;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
