/**
 * The demo's switch simulator: its call logic against an in-process exchange that
 * grants like SPEC §8 at a flat price per second (slices of 300 s, credit above 2.00
 * less the other calls' holds). The real routes are exercised by
 * test/integration/switch-simulator.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { RawCdr } from "../../src/tools/cdr-generator.js";
import {
  runSwitch,
  simulateCall,
  type Grant,
  type SessionApi,
  type StartRequest,
} from "../../src/tools/switch-simulator.js";

const QUOTA = 300;
const FLOOR = 2_000_000;

/** One account; every second costs `perSecond` micros. Logs every request. */
class FakeExchange implements SessionApi {
  holds = new Map<string, number>();
  granted = new Map<string, number>();
  log: string[] = [];
  failRenew = false;
  failStart = false;
  constructor(
    public balance: number,
    private readonly perSecond = 1_000,
  ) {}

  private grant(callId: string, upTo: number): Grant {
    let others = 0;
    for (const [id, h] of this.holds) if (id !== callId) others += h;
    const available = this.balance - FLOOR - others;
    const seconds = Math.max(0, Math.min(upTo, Math.floor(available / this.perSecond)));
    return {
      call_id: callId,
      allowed: seconds > 0,
      reason: seconds > 0 ? "ok" : "insufficient_credit",
      granted_seconds: seconds,
      final: seconds < upTo,
      held_micros: seconds * this.perSecond,
      expires_at: null,
    };
  }

  start(_account: string, body: StartRequest): Promise<Grant> {
    this.log.push(`start ${body.call_id} ${(body.features ?? []).join("+")}`);
    if (this.failStart) return Promise.reject(new Error("connection refused"));
    const g = this.grant(body.call_id, QUOTA);
    if (g.allowed) {
      this.holds.set(body.call_id, g.held_micros);
      this.granted.set(body.call_id, g.granted_seconds);
    }
    return Promise.resolve(g);
  }

  renew(_account: string, callId: string, used: number): Promise<Grant> {
    const before = this.granted.get(callId)!;
    this.log.push(`renew ${callId} used ${used} of ${before}`);
    if (this.failRenew) return Promise.reject(new Error("503"));
    const g = this.grant(callId, before + QUOTA);
    const seconds = Math.max(before, g.granted_seconds);
    this.holds.set(callId, seconds * this.perSecond);
    this.granted.set(callId, seconds);
    return Promise.resolve({ ...g, granted_seconds: seconds, held_micros: seconds * this.perSecond });
  }

  end(_account: string, callId: string, duration: number): Promise<unknown> {
    this.log.push(`end ${callId} ${duration}`);
    return Promise.resolve({});
  }

  /** The CDR settles: debit and release in one step. */
  settle(cdr: RawCdr): void {
    this.balance -= cdr.duration_seconds * this.perSecond;
    this.holds.delete(cdr.cdr_id);
  }
}

const call = (id: string, seconds: number, features: string[] = []): RawCdr => ({
  cdr_id: id,
  account_id: "acme",
  direction: "outbound",
  from: "+14155550100",
  to: "+442071234567",
  answered_at: "2026-01-01T00:00:00Z",
  duration_seconds: seconds,
  ...(features.length > 0 && { surcharges: features.map((feature) => ({ feature, seconds })) }),
});

const instant = { speed: Infinity, now: () => new Date("2026-11-27T10:00:00.400Z") };

describe("one call", () => {
  it("a short call: start, end, and a CDR whose cdr_id is the call_id, answered when the session started", async () => {
    const x = new FakeExchange(50_000_000);
    const r = await simulateCall(x, call("c-1", 125, ["recording"]), instant);
    expect(r).toMatchObject({ outcome: "completed", renews: 0, cut: false, errors: 0 });
    if (r.outcome !== "completed") return;
    expect(r.cdr).toMatchObject({
      cdr_id: "c-1",
      duration_seconds: 125,
      answered_at: "2026-11-27T10:00:00Z",
      surcharges: [{ feature: "recording", seconds: 125 }],
    });
    expect(x.log).toEqual(["start c-1 recording", "end c-1 125"]);
  });

  it("a long call is renewed before each grant runs out until it reaches its length", async () => {
    const x = new FakeExchange(50_000_000);
    const r = await simulateCall(x, call("c-2", 1000), { ...instant, renewLeadSeconds: 30 });
    expect(r).toMatchObject({ outcome: "completed", renews: 3, cut: false });
    expect(x.log).toEqual([
      "start c-2 ",
      "renew c-2 used 270 of 300",
      "renew c-2 used 570 of 600",
      "renew c-2 used 870 of 900",
      "end c-2 1000",
    ]);
  });

  it("cut at the granted seconds when credit runs out (final), and the CDR says the cut length", async () => {
    // 2.00 + 0.45 of credit at 0.001/s: 450 s, however long the caller wanted.
    const x = new FakeExchange(2_450_000);
    const r = await simulateCall(x, call("c-3", 3600, ["recording"]), instant);
    expect(r).toMatchObject({ outcome: "completed", renews: 1, cut: true });
    if (r.outcome !== "completed") return;
    expect(r.cdr.duration_seconds).toBe(450);
    expect(r.cdr.surcharges).toEqual([{ feature: "recording", seconds: 450 }]);
    expect(x.log.at(-1)).toBe("end c-3 450");
  });

  it("a refused start connects nothing: no renew, no end, no CDR", async () => {
    const x = new FakeExchange(2_000_000);
    expect(await simulateCall(x, call("c-4", 60), instant)).toEqual({
      outcome: "refused",
      reason: "insufficient_credit",
    });
    expect(x.log).toEqual(["start c-4 "]);
  });

  it("fails closed: a start with no answer connects nothing; a failed renew cuts the call at what it has", async () => {
    const down = new FakeExchange(50_000_000);
    down.failStart = true;
    expect(await simulateCall(down, call("c-5", 60), instant)).toMatchObject({ outcome: "failed" });

    const x = new FakeExchange(50_000_000);
    x.failRenew = true;
    const r = await simulateCall(x, call("c-6", 1000), instant);
    expect(r).toMatchObject({ outcome: "completed", cut: true, errors: 1 });
    if (r.outcome === "completed") expect(r.cdr.duration_seconds).toBe(300);
    expect(x.log.at(-1)).toBe("end c-6 300");
  });

  it("waits in call time divided by speed: a 2-slice call at 6,000× takes about 100 ms", async () => {
    const x = new FakeExchange(50_000_000);
    const t0 = Date.now();
    await simulateCall(x, call("c-7", 600), { speed: 6_000 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(1_000);
  });
});

describe("runSwitch", () => {
  it("many concurrent calls on one account: the settled CDRs never take the balance below 2.00, refusals and renews counted", async () => {
    const x = new FakeExchange(12_000_000);
    let n = 0;
    const calls = (function* () {
      for (;;) yield call(`k-${n++}`, n % 3 === 0 ? 2000 : 200);
    })();
    let lowest = x.balance;
    const deadline = Date.now() + 300;
    const stats = await runSwitch({
      api: x,
      calls,
      callsPerSecond: 200,
      until: () => Date.now() >= deadline,
      call: { speed: 20_000 },
      emitCdr: (cdr) => {
        x.settle(cdr);
        lowest = Math.min(lowest, x.balance);
      },
      tickMs: 5,
    });
    expect(stats.offered).toBeGreaterThan(20);
    expect(stats.completed + (stats.refused.insufficient_credit ?? 0)).toBe(stats.offered);
    expect(stats.refused.insufficient_credit).toBeGreaterThan(0);
    expect(stats.renews).toBeGreaterThan(0);
    expect(stats.peakConcurrent).toBeGreaterThan(1);
    expect(lowest).toBeGreaterThanOrEqual(FLOOR);
    expect(x.holds.size).toBe(0);
  });
});

describe("runSwitch with every line busy", () => {
  it("counts the calls it cannot place as busy instead of queueing them", async () => {
    const x = new FakeExchange(50_000_000);
    let n = 0;
    const calls = (function* () {
      for (;;) yield call(`b-${n++}`, 3000);
    })();
    const deadline = Date.now() + 200;
    const stats = await runSwitch({
      api: x,
      calls,
      callsPerSecond: 500,
      maxConcurrent: 3,
      until: () => Date.now() >= deadline,
      call: { speed: 3_000 },
      emitCdr: () => undefined,
      tickMs: 5,
    });
    expect(stats.peakConcurrent).toBe(3);
    expect(stats.busy).toBeGreaterThan(0);
    expect(stats.completed + stats.busy).toBe(stats.offered);
  });
});
