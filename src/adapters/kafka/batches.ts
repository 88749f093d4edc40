/**
 * What both Kafka clients do with a fetched batch, the same way: hand it to the handler
 * as the project's types, then move past it and commit, unless a rebalance took the
 * partition meanwhile (then nothing is committed and the records come again).
 */
import type { BatchHandler, IncomingMessage } from "./types.js";

/** A message as both clients' KafkaJS-style APIs deliver it. */
export interface ClientMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

export interface ClientBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: ClientMessage[] };
  resolveOffset(offset: string): void;
  isStale(): boolean;
}

export async function handleThenCommit(
  payload: ClientBatchPayload,
  handler: BatchHandler,
  heartbeat: () => Promise<void>,
  commit: (offset: { topic: string; partition: number; offset: string }) => Promise<void>,
): Promise<void> {
  const { batch } = payload;
  if (batch.messages.length === 0) return;
  const isStale = () => payload.isStale();
  await handler(
    {
      topic: batch.topic,
      partition: batch.partition,
      highWatermark: batch.highWatermark,
      messages: batch.messages.map(toIncoming),
    },
    { heartbeat, isStale },
  );
  if (isStale()) return;
  const last = batch.messages[batch.messages.length - 1]!;
  // Resolving moves the fetch position past the batch; committing makes it durable.
  payload.resolveOffset(last.offset);
  await commit({
    topic: batch.topic,
    partition: batch.partition,
    offset: (BigInt(last.offset) + 1n).toString(),
  });
}

export function toIncoming(message: ClientMessage): IncomingMessage {
  const headers: Record<string, Buffer | undefined> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    // Kafka allows a header to repeat; ratestream's headers never do, so keep the first.
    const first = Array.isArray(value) ? value[0] : value;
    headers[name] = first === undefined ? undefined : Buffer.from(first);
  }
  return {
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers,
    timestamp: message.timestamp,
  };
}
