/**
 * The project's KafkaAdmin over either client's KafkaJS-style admin: both answer
 * listTopics, deleteTopics, fetchTopicOffsets and fetchOffsets alike. Creating topics
 * differs (kafkajs waits for leaders itself, librdkafka does not), so each client
 * passes its own way of creating the missing ones.
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

/** Topic-level settings as both clients' createTopics take them. */
export function configEntries(t: TopicSpec): { name: string; value: string }[] {
  return Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value }));
}

function byPartition(a: { partition: number }, b: { partition: number }): number {
  return a.partition - b.partition;
}
