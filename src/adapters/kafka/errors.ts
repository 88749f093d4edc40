/**
 * Kafka clients' errors in ratestream's vocabulary. Both clients (kafkajs, and the
 * Confluent client's KafkaJS-compatible layer) name their errors `KafkaJS…`; the client
 * retries what it can inside, so one that reaches us is the broker's: a DependencyError.
 */
import { DependencyError, RatestreamError } from "../../errors.js";

export function kafkaError(err: unknown): RatestreamError | undefined {
  if (err instanceof RatestreamError) return err;
  const e = err as { name?: string; message?: string } | null;
  if (!e?.name?.startsWith("KafkaJS")) return undefined;
  return new DependencyError("kafka", `Kafka: ${e.message ?? e.name}`, { cause: err });
}
