/**
 * Which Kafka client backs the project's interface: KAFKA_CLIENT=kafkajs (the default,
 * pure JavaScript, the faster consumer here; see BENCHMARKS.md) or confluent
 * (@confluentinc/kafka-javascript on librdkafka, an optional native dependency).
 */
import { ConfigError } from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import { createConfluentClient } from "./confluent-client.js";
import { createKafkajsClient } from "./kafkajs-client.js";
import type { KafkaClient } from "./types.js";

export const KAFKA_CLIENTS = ["kafkajs", "confluent"] as const;
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

export function kafkaClientName(value = process.env.KAFKA_CLIENT): KafkaClientName {
  const name = value?.trim() || "kafkajs";
  if (!(KAFKA_CLIENTS as readonly string[]).includes(name)) {
    throw new ConfigError("KAFKA_CLIENT", `"${name}" is not one of ${KAFKA_CLIENTS.join(", ")}`);
  }
  return name as KafkaClientName;
}

export async function createKafkaClient(options: {
  brokers: string[];
  clientId?: string;
  logger: Logger;
  client?: KafkaClientName;
}): Promise<KafkaClient> {
  const client = options.client ?? kafkaClientName();
  return client === "confluent" ? createConfluentClient(options) : createKafkajsClient(options);
}
