import type { KafkaAdmin } from "./types.js";

/**
 * True once a consumer group has committed every record of a topic: each partition's
 * committed offset is its end offset (an empty partition counts as done).
 */
export async function groupCaughtUp(admin: KafkaAdmin, groupId: string, topic: string): Promise<boolean> {
  const ends = await admin.endOffsets(topic);
  const committed = new Map(
    (await admin.committedOffsets(groupId, topic)).map((p) => [p.partition, p.offset]),
  );
  return ends.every((e) => e.offset === "0" || committed.get(e.partition) === e.offset);
}
