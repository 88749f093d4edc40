/**
 * Chaos, part 2: while CDRs flow through one rater and both workers run, each server
 * goes away and comes back, with no operator action: Redis restarts empty (it keeps
 * nothing on disk) and the rater restores the accounts from the ledger on its own;
 * Postgres crashes (immediate stop) and restarts; the Kafka broker is SIGKILLed and
 * restarts on its log. After each, once everything has caught up, the exact outcome is
 * checked, and the rater and workers must still be the same processes.
 */
import { afterAll, describe, expect, it } from "vitest";
import { metric, waitReady } from "../support/rater.js";
import { Scope } from "../support/services.js";
import { chaosRig, exitWithin, type ChaosRig } from "./support/harness.js";
import { chaosKafka, chaosPostgres } from "./support/servers.js";

const scope = new Scope();
afterAll(() => scope.cleanup());

const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 1);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 1e9));
const OUTAGE_MS = 2_000;

describe("chaos: restart the servers under the stream", () => {
  it(`rides out Redis restarting empty, a Postgres crash and a broker SIGKILL (seed ${SEED})`, async () => {
    const c: ChaosRig = await chaosRig(scope, SEED);
    const log = (line: string) => console.log(`[chaos seed=${SEED}] ${line}`);
    const postgres = chaosPostgres();
    const kafka = chaosKafka();
    const r = c.rater();
    await waitReady(r);

    /** Lets the stream flow through the fault, then stops it, waits for the catch-up and checks. */
    const underStream = async (label: string, fault: () => Promise<void>) => {
      c.flow.start();
      await new Promise((resolve) => setTimeout(resolve, 1_000 + c.random() * 2_000));
      const started = Date.now();
      await fault();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await c.flow.stop();
      await c.quiesce(undefined, r);
      log(`${label}: caught up ${Date.now() - started} ms after the fault`);
      expect(await exitWithin(r, 0), `the rater died:\n${r.output().slice(-5000)}`).toBe("alive");
      await c.checkAll(label);
    };

    for (let round = 0; round < ROUNDS; round++) {
      const restoredBefore = await metric(r, "ratestream_accounts_restored_total");
      await underStream(`round ${round}: Redis restarted empty`, async () => {
        await c.redis.kill();
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        await c.redis.start();
      });
      // No operator action: the rater restored the accounts it needed from the ledger.
      expect(await metric(r, "ratestream_accounts_restored_total")).toBeGreaterThan(restoredBefore);

      // A crash between an email's send and its record resends it (same Message-ID).
      c.allowEmailResends();
      await underStream(`round ${round}: Postgres crashed and restarted`, async () => {
        await postgres.crash();
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        await postgres.start();
      });

      await underStream(`round ${round}: Kafka broker SIGKILLed and restarted`, async () => {
        await kafka.restart("SIGKILL");
      });
    }
    log(
      `${c.flow.sent.length} CDRs sent, ${await c.s.callEntries()} debited, ` +
        `${c.fake.intents.length} card charges, ${c.sink.messages.length} emails`,
    );
    expect(await metric(r, "ratestream_dependency_errors_total")).toBeGreaterThan(0);
    const stopped = await r.stop("SIGTERM");
    expect(stopped, `the rater did not stop cleanly:\n${r.output().slice(-5000)}`).toEqual({
      code: 0,
      signal: null,
    });
  });
});
