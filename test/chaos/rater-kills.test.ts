/**
 * Chaos, part 1: while CDRs flow and both workers run, the rater is SIGKILLed again and
 * again — by itself at each named fault point (the n-th time it gets there, n random),
 * and from outside at random instants — and each worker once. After every kill, what
 * must hold at any instant is checked; at the end, with everything caught up, the exact
 * outcome. CHAOS_ROUNDS (default 1) repeats the round of kills; CHAOS_SEED replays one.
 */
import { afterAll, describe, expect, it } from "vitest";
import { FAULT_POINTS } from "../../src/balances/faults.js";
import { waitReady } from "../support/rater.js";
import { Scope } from "../support/services.js";
import { chaosRig, exitWithin } from "./support/harness.js";

const scope = new Scope();
afterAll(() => scope.cleanup());

const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 1);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 1e9));

describe("chaos: SIGKILL the rater", () => {
  it(`loses and doubles nothing through kills at every fault point and at random instants (seed ${SEED})`, async () => {
    const c = await chaosRig(scope, SEED);
    const log = (line: string) => console.log(`[chaos seed=${SEED}] ${line}`);
    await c.flow.sendChunk(400); // a backlog, so the first rater has work at once
    c.flow.start();

    let kill = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const point of FAULT_POINTS) {
        // At the named point, the n-th time the process gets there.
        const nth = 1 + Math.floor(c.random() * 3);
        const r = c.rater(`${point}:${nth}`);
        const outcome = await exitWithin(r, 45_000);
        expect(outcome, `${point}:${nth}: the rater must have killed itself there\n${r.output()}`).toEqual({
          code: null,
          signal: "SIGKILL",
        });
        await c.checkNow(`kill ${++kill} at ${point}:${nth}`);
        log(`kill ${kill}: ${point}:${nth}`);

        // At a random instant: during start-up, joining the group, or mid-batch.
        const r2 = c.rater();
        const after = 300 + Math.floor(c.random() * 5_000);
        await new Promise((resolve) => setTimeout(resolve, after));
        expect(await exitWithin(r2, 0), `rater died on its own:\n${r2.output()}`).toBe("alive");
        await r2.stop("SIGKILL");
        await c.checkNow(`kill ${++kill} at +${after} ms`);
        log(`kill ${kill}: random, ${after} ms after start`);

        // Each worker once, mid-stream: its replacement (a new group) re-reads every event.
        if (round === 0 && point === "after_ledger") {
          await c.killWorker("recharge");
          await c.startWorker("recharge");
          log("recharge-worker SIGKILLed and replaced");
        }
        if (round === 0 && point === "after_publish") {
          await c.killWorker("notify");
          await c.startWorker("notify");
          log("notify-worker SIGKILLed and replaced");
        }
      }
    }

    await c.flow.stop();
    const last = c.rater();
    await waitReady(last);
    await c.quiesce(undefined, last);
    await c.checkAll(`after ${kill} kills`);
    log(
      `${c.flow.sent.length} CDRs sent, ${await c.s.callEntries()} debited, ` +
        `${c.fake.intents.length} card charges, ${c.sink.messages.length} emails`,
    );
    expect(await last.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  });
});
