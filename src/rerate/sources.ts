/**
 * Where `rerate` reads the calls of a period back from: the `rated-cdrs` topic from the
 * first record published at or after `from` to the end (a call can be processed long
 * after it was answered), or a JSON-lines file. Calls are handed over in batches, so
 * memory holds one batch, never the period.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { KafkaClient, RangeProgress } from "../adapters/kafka/types.js";
import { decodeCdrJson, type Cdr } from "../core/cdr.js";

export type CallBatchHandler = (calls: Cdr[]) => Promise<void>;

export interface ReadStats {
  records: number;
  /** Records that are not a valid CDR (should not happen on rated-cdrs): skipped, counted. */
  invalid: number;
}

const BATCH = 2_000;
const PROGRESS_EVERY_MS = 2_000;

/** Prints a progress line at most every 2 s, and one at the end. */
export function progressPrinter(write: (line: string) => void) {
  let last = 0;
  return (text: string, final = false) => {
    const now = Date.now();
    if (!final && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    write(`rerate: ${text}\n`);
  };
}

async function handleInChunks(calls: Cdr[], handler: CallBatchHandler): Promise<void> {
  for (let i = 0; i < calls.length; i += BATCH) await handler(calls.slice(i, i + BATCH));
}

export async function readFromTopic(
  kafka: KafkaClient,
  topic: string,
  fromMs: number,
  handler: CallBatchHandler,
  progress: (text: string, final?: boolean) => void,
): Promise<ReadStats> {
  const stats: ReadStats = { records: 0, invalid: 0 };
  const describe = (p: RangeProgress) =>
    `read ${p.read} of ${p.total} records of ${topic}` +
    (p.total > 0n ? ` (${(p.read * 100n) / p.total}%)` : "");
  const final = await kafka.readFromTime({
    topic,
    fromMs,
    handler: async (batch) => {
      const calls: Cdr[] = [];
      for (const message of batch.messages) {
        stats.records++;
        const decoded = decodeCdrJson(message.value?.toString("utf8") ?? "");
        if (decoded.ok) calls.push(decoded.cdr);
        else stats.invalid++;
      }
      await handleInChunks(calls, handler);
    },
    onProgress: (p) => progress(describe(p)),
  });
  progress(describe(final), true);
  return stats;
}

export async function readFromFile(
  path: string,
  handler: CallBatchHandler,
  progress: (text: string, final?: boolean) => void,
): Promise<ReadStats> {
  const stats: ReadStats = { records: 0, invalid: 0 };
  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let calls: Cdr[] = [];
  for await (const line of lines) {
    if (line.trim() === "") continue;
    stats.records++;
    const decoded = decodeCdrJson(line);
    if (decoded.ok) calls.push(decoded.cdr);
    else stats.invalid++;
    if (calls.length >= BATCH) {
      await handler(calls);
      calls = [];
      progress(`read ${stats.records} lines of ${path}`);
    }
  }
  if (calls.length > 0) await handler(calls);
  progress(`read ${stats.records} lines of ${path}`, true);
  return stats;
}
