/**
 * The wait before a batch is retried after a dependency failure: exponential from 100 ms,
 * capped at 10 s, with jitter so that many partitions do not retry in step. Heartbeats
 * the consumer group each second meanwhile, so the wait does not cost the partition.
 * Shared by the rater and the balance-events workers.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BatchControls } from "./types.js";

const MAX_BACKOFF_MS = 10_000;

export async function backoff(attempt: number, controls: Pick<BatchControls, "heartbeat">): Promise<void> {
  const ms = Math.min(MAX_BACKOFF_MS, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
  for (let waited = 0; waited < ms; waited += 1_000) {
    await sleep(Math.min(1_000, ms - waited));
    await controls.heartbeat().catch(() => undefined);
  }
}
