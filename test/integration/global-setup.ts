/**
 * Integration tests run against real servers. When KAFKA_BROKERS is set, the servers of
 * the environment are used as they are; otherwise scripts/services starts (or finds)
 * the local ones: Kafka, the schema registry, Redis and Postgres.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  if (process.env.KAFKA_BROKERS) return;
  const script = fileURLToPath(new URL("../../scripts/services", import.meta.url));
  execFileSync(script, ["up"], { stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
}
