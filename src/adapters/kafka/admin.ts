/**
 * The project's KafkaAdmin over either client's KafkaJS-style admin: both answer
 * listTopics, deleteTopics, fetchTopicOffsets and fetchOffsets alike. Creating topics
 * differs, so each client passes its own way of creating the missing ones; both then wait
 * with `waitUntilServed`.
 */
import type { KafkaAdmin, TopicSpec } from "./types.js";

export interface KafkajsStyleAdmin {
  listTopics(): Promise<string[]>;
  deleteTopics(r: { topics: string[] }): Promise<void>;
  fetchTopicOffsets(topic: string): Promise<{ partition: number; high: string }[]>;
  fetchOffsets(r: {
    groupId: string;
    topics: string[];
  }): Promise<{ partitions: { partition: number; offset: string }[] }[]>;
  disconnect(): Promise<void>;
}

export function kafkaAdmin(
  admin: KafkajsStyleAdmin,
  createMissing: (missing: TopicSpec[]) => Promise<void>,
): KafkaAdmin {
  return {
    async createTopics(topics) {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length > 0) await createMissing(missing);
    },
    deleteTopics: (topics) => admin.deleteTopics({ topics }),
    listTopics: () => admin.listTopics(),
    async endOffsets(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, offset: o.high })).sort(byPartition);
    },
    async committedOffsets(groupId, topic) {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (entry?.partitions ?? [])
        .map((p) => ({ partition: p.partition, offset: p.offset }))
        .sort(byPartition);
    },
    disconnect: () => admin.disconnect(),
  };
}

/**
 * Waits until the broker serves every partition of topics just created. CreateTopics
 * returns once the controller has them; on KRaft the broker learns them from the metadata
 * log a moment later, and until then answers "does not host this topic-partition".
 * kafkajs's own waitForLeaders gives up on that answer (it retries only "leader not
 * available"), which failed tests under load; here any such answer means "not yet".
 */
export async function waitUntilServed(
  admin: Pick<KafkajsStyleAdmin, "fetchTopicOffsets">,
  created: TopicSpec[],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const t of created) {
    for (;;) {
      const offsets = await admin.fetchTopicOffsets(t.topic).catch(() => []);
      if (offsets.length === t.partitions) break;
      if (Date.now() > deadline) {
        throw new Error(
          `topic ${t.topic}: the broker does not serve its ${t.partitions} partitions after ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Topic-level settings as both clients' createTopics take them. */
export function configEntries(t: TopicSpec): { name: string; value: string }[] {
  return Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value }));
}

function byPartition(a: { partition: number }, b: { partition: number }): number {
  return a.partition - b.partition;
}
