/**
 * Chaos, part 3: a rebalance with a zombie consumer. While CDRs flow, rater B (the owner)
 * and rater A share the group; A SIGSTOPs itself right after the write path's ledger
 * de-duplication (`RATESTREAM_FAULT=after_dedupe:<n>:stop`, n random), holding a batch it
 * found fresh. Its session times out, B takes its partitions and rates, records and
 * confirms the same CDRs. Then A is continued (SIGCONT): Redis applies its batch a second
 * time (B's pending results are gone), its ledger step finds B's entries and must record
 * none of the doubled state's effects (no event, no auto-recharge request and so no card
 * charge; the rig has no offline-reload account, money-correctness.test.ts covers reloads
 * and invoices), restore the accounts from the ledger, and its offset commit fails (stale
 * generation) without losing or doubling anything; meanwhile B keeps rating the same
 * accounts, and must record nothing on top of A's doubled entries. `checkNow`
 * after each zombie, `checkAll` at the end. CHAOS_ROUNDS multiplies the three zombies;
 * CHAOS_SEED replays one run's random choices.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, waitReady, type RaterProcess } from "../support/rater.js";
import { Scope } from "../support/services.js";
import { chaosRig, exitWithin } from "./support/harness.js";

const scope = new Scope();
afterAll(() => scope.cleanup());

const ZOMBIES = 3 * Number(process.env.CHAOS_ROUNDS ?? 1);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 1e9));
/** What the write path logs (settleRaces) when a twin recorded its requests first. */
const TWIN_RACE = "a twin writer recorded these requests first; restoring";
/** CDRs per burst sent to the zombie once it has joined: its batches, so its doubled batch is big. */
const BURST = 60;

/** A process's state letter from /proc (T: stopped), or undefined once it is gone. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  // "pid (comm) S …": the command may hold spaces or parentheses; the state follows the last ")".
  return stat?.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

/** True once the process is stopped (SIGSTOP), false after `ms` without. Throws if it exited. */
async function stoppedWithin(r: RaterProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    await expectAlive(r, "the zombie");
    if ((await processState(r.pid)) === "T") return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** Throws with the process's output if it has exited. */
async function expectAlive(r: RaterProcess, what: string): Promise<void> {
  const exited = await exitWithin(r, 0);
  if (exited !== "alive")
    throw new Error(`${what} exited ${JSON.stringify(exited)}:\n${r.output().slice(-5000)}`);
}

describe("chaos: a zombie consumer races the new owner", () => {
  it(`records none of a doubled state's effects when a stopped rater finishes a batch its successor rated (seed ${SEED})`, async () => {
    // A tenth of the other scenarios' flow (4 CDRs every 200 ms): the owner, alone while
    // the zombie's session expires, stays ahead of the stream on a shared machine (at the
    // full flow one run's owner was not past the zombie's batch after 60 s), and the
    // bursts below, not the flow, make the zombie's batch. The two auto-recharge accounts
    // hover between about 5.00 and 30.00 (each crossing of 5.00 is recharged within a
    // second), where a doubled debit crosses thresholds and its effects would show.
    const c = await chaosRig(scope, SEED, { flow: { perTick: 4 } });
    const log = (line: string) => console.log(`[chaos seed=${SEED}] ${line}`);
    const { admin, group, topics } = c.s;
    c.flow.start();
    const owner = c.rater();
    await waitReady(owner);

    let races = 0;
    for (let round = 0; round < ZOMBIES; round++) {
      const nth = 1 + Math.floor(c.random() * 3);
      // The zombie joins a quiet topic, then gets bursts, one at a time until it stops:
      // each of its batches then holds ~BURST/3 fresh CDRs of each partition it owns (so
      // it stops within three bursts). With the thin flow alone its stopped batch would
      // hold a few CDRs, often only re-sent ones (nothing to race), and their second debit
      // would rarely cross a threshold; a burst's doubled debits on the busiest account
      // (≈ 21 of its calls, ≈ 12.00) cross 5.00 about half the time A holds its partition.
      await c.flow.stop();
      const zombie = c.rater(`after_dedupe:${nth}:stop`);
      // Ready means joined: `ratestream run` serves /readyz once the group's join and sync
      // are done. It may stop first on a backlog the owner left: that batch is fresh too.
      await eventually(
        async () => {
          await expectAlive(zombie, "the zombie");
          if ((await processState(zombie.pid)) === "T") return true;
          return fetch(`http://127.0.0.1:${zombie.port}/readyz`).then(
            (res) => res.ok,
            () => false,
          );
        },
        45_000,
        "the zombie to join the group",
      );
      for (let burst = 0; burst < 5 && !(await stoppedWithin(zombie, 0)); burst++) {
        await c.flow.sendChunk(BURST);
        await stoppedWithin(zombie, 1_500);
      }
      c.flow.start();
      expect(
        await stoppedWithin(zombie, 45_000),
        `the rater did not stop itself at after_dedupe:${nth}\n--- zombie:\n${zombie.output().slice(-6000)}\n--- owner:\n${owner.output().slice(-3000)}`,
      ).toBe(true);
      const stopped = Date.now();

      // Everything sent so far, the zombie's batch included, committed by the owner: it
      // took the partitions after the zombie's session timed out (6 s) and went past the
      // zombie's batch, whose CDRs it rated, recorded and confirmed.
      const ends = await admin.endOffsets(topics.cdrs);
      let committed: { partition: number; offset: string }[] = [];
      await eventually(
        async () => {
          await expectAlive(owner, "the owner");
          committed = await admin.committedOffsets(group, topics.cdrs).catch(() => []);
          const at = new Map(committed.map((p) => [p.partition, BigInt(p.offset)]));
          // An empty partition has nothing committed (-1), and nothing to pass.
          return ends.every((e) => e.offset === "0" || (at.get(e.partition) ?? -1n) >= BigInt(e.offset));
        },
        // The takeover is bounded by the group, not by us: when the zombie stops in the
        // middle of a rebalance (it may, on a backlog), the coordinator can wait for it
        // up to the rebalance timeout (kafkajs' default, 60 s) before the owner gets its
        // partitions. A fresh-clone run met exactly that with a bound of 60 s.
        150_000,
        "the owner to commit past the zombie's batch",
      ).catch((err: Error) => {
        // What the owner was doing, to tell a stuck batch from a group that never rebalanced.
        throw new Error(
          `${err.message}; ends ${JSON.stringify(ends)}, committed ${JSON.stringify(committed)}\n--- owner:\n${owner.output().slice(-8000)}\n--- zombie:\n${zombie.output().slice(-3000)}`,
        );
      });
      const tookOver = Date.now() - stopped;

      // Continued, the zombie finishes its batch on state the owner has changed since,
      // while the owner debits the same accounts (a chunk sent just before).
      const before = zombie.output().length;
      await c.flow.sendChunk(40);
      process.kill(zombie.pid, "SIGCONT");
      const raced = await eventually(
        () => Promise.resolve(zombie.output().includes(TWIN_RACE, before)),
        20_000,
        "the zombie's write path to find the owner's entries",
      ).then(
        () => true,
        () => false,
      );
      if (raced) races++;
      // It rides out its failed commit and rejoins the group: it must not die of it.
      expect(await exitWithin(zombie, 3_000), `the zombie died:\n${zombie.output().slice(-5000)}`).toBe(
        "alive",
      );
      await c.checkNow(`zombie ${round + 1} at after_dedupe:${nth}`);
      const exited = await zombie.stop("SIGTERM");
      expect(exited, `the zombie did not stop cleanly:\n${zombie.output().slice(-5000)}`).toEqual({
        code: 0,
        signal: null,
      });
      log(
        `zombie ${round + 1}: after_dedupe:${nth}, owner past its batch ${tookOver} ms after it stopped, ` +
          (raced ? "raced the owner" : "found nothing to race"),
      );
    }

    await c.flow.stop();
    await c.quiesce(undefined, owner);
    await c.checkAll(`after ${ZOMBIES} zombies`);
    log(
      `${c.flow.sent.length} CDRs sent, ${await c.s.callEntries()} debited, ` +
        `${c.fake.intents.length} card charges, ${c.sink.messages.length} emails, ${races} races, ` +
        `${owner.output().split("entries follow none the ledger holds").length - 1} owner batches unchained`,
    );
    // The scenario is worth something only if a zombie really raced the owner.
    expect(races, "zombies that raced the owner").toBeGreaterThan(0);
    expect(
      await owner.stop("SIGTERM"),
      `the owner did not stop cleanly:\n${owner.output().slice(-5000)}`,
    ).toEqual({ code: 0, signal: null });
  });
});
