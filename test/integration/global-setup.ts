/**
 * Integration tests run against real servers, from one of three places:
 * - KAFKA_BROKERS set: the servers of the environment, as they are
 *   (with SCHEMA_REGISTRY_URL, REDIS_URL, DATABASE_URL);
 * - RATESTREAM_TESTCONTAINERS=1 on a machine with a Docker engine: docker-compose.yml's
 *   infrastructure through testcontainers (its ports are the local defaults). Kept thin
 *   and not exercised on the project's own machines, which have no Docker engine;
 * - otherwise: scripts/services starts (or finds) Kafka, the registry, Redis, Postgres.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.KAFKA_BROKERS) return undefined;
  if (process.env.RATESTREAM_TESTCONTAINERS === "1") {
    const { DockerComposeEnvironment, Wait } = await import("testcontainers");
    const environment = await new DockerComposeEnvironment(ROOT, "docker-compose.yml")
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .up(["kafka", "registry", "redis", "postgres"]);
    return async () => void (await environment.down());
  }
  execFileSync(`${ROOT}scripts/services`, ["up"], {
    stdio: ["ignore", "ignore", "inherit"],
    timeout: 600_000,
  });
  return undefined;
}
