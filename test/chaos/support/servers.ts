/**
 * The chaos suite's private servers: a throw-away Postgres cluster, a redis-server and a
 * single-node Kafka broker, on ports of their own, never the shared ones other tests use
 * (5432, 6379, 9092). vitest.config.ts points the chaos project's environment
 * (DATABASE_URL, REDIS_URL, KAFKA_BROKERS) at them; the global set-up creates Postgres
 * and Kafka once per run, each test file starts its own Redis.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privateKafka, type PrivateKafka } from "../../support/private-kafka.js";
import { privatePostgres, type PrivatePostgres } from "../../support/private-postgres.js";

/**
 * CHAOS_PORT_OFFSET (default 0) moves every port, and so the data folder: two checkouts
 * on one machine can run the suite at once without one's set-up killing the other's servers.
 */
const OFFSET = Number(process.env.CHAOS_PORT_OFFSET ?? 0);

export const CHAOS_PORTS = {
  postgres: 15432 + OFFSET,
  redis: 16379 + OFFSET,
  kafka: 19092 + OFFSET,
  kafkaController: 19093 + OFFSET,
} as const;

export const CHAOS_ENV = {
  DATABASE_URL: `postgres://postgres@127.0.0.1:${CHAOS_PORTS.postgres}/ratestream`,
  REDIS_URL: `redis://127.0.0.1:${CHAOS_PORTS.redis}`,
  KAFKA_BROKERS: `127.0.0.1:${CHAOS_PORTS.kafka}`,
};

/** Where the servers keep their data during a run (deleted at its start and end). */
export const CHAOS_ROOT = join(tmpdir(), `ratestream-chaos-${CHAOS_PORTS.kafka}`);

export function chaosPostgres(): PrivatePostgres {
  return privatePostgres(join(CHAOS_ROOT, "postgres"), CHAOS_PORTS.postgres);
}

export function chaosKafka(): PrivateKafka {
  return privateKafka(join(CHAOS_ROOT, "kafka"), CHAOS_PORTS.kafka, CHAOS_PORTS.kafkaController);
}
