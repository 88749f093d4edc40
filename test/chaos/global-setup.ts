/**
 * Starts the chaos suite's private Postgres cluster and Kafka broker (in parallel), and
 * removes them after the run. The Kafka jars come from scripts/services' cache, which
 * `scripts/services up` fills on first use.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHAOS_ROOT, chaosKafka, chaosPostgres } from "./support/servers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export default async function setup(): Promise<() => Promise<void>> {
  const cache = process.env.RATESTREAM_CACHE ?? join(homedir(), ".cache", "ratestream");
  if (!existsSync(join(cache, "kafka-4.1.1", "libs"))) {
    // scripts/services fetches the Kafka jars (once) as it starts the shared services.
    execFileSync(`${ROOT}scripts/services`, ["up"], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 600_000,
    });
  }
  const postgres = chaosPostgres();
  const kafka = chaosKafka();
  // Left over by an interrupted run: stop what may still run there, then start afresh.
  await Promise.all([postgres.destroy(), kafka.destroy()]);
  rmSync(CHAOS_ROOT, { recursive: true, force: true });
  mkdirSync(CHAOS_ROOT, { recursive: true });
  chmodSync(CHAOS_ROOT, 0o755); // the postgres user must reach its folder inside
  await Promise.all([postgres.start(), kafka.start()]);
  return async () => {
    await Promise.all([postgres.destroy(), kafka.destroy()]);
    rmSync(CHAOS_ROOT, { recursive: true, force: true });
  };
}
