/** CallStore on Redis: calls-1.lua on the account's state hash (one key, its hash slot). */
import type { Cluster, Redis } from "ioredis";
import { decodeSession, type CallReply, type CallStore, type HoldPair } from "../../calls/types.js";
import { scriptThresholds } from "../../core/balance-rules.js";
import { accountKeys } from "./keys.js";
import { defineBalanceScripts, type ScriptedRedis } from "./scripts.js";

export class RedisCallStore implements CallStore {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis | Cluster) {
    this.redis = defineBalanceScripts(redis);
  }

  start(
    accountId: string,
    callId: string,
    meta: { direction: string; to: string; features: string[] },
    steps: HoldPair[],
    timing: { graceMs: number; keepClosedMs: number },
  ) {
    const encodedMeta = JSON.stringify([meta.direction, meta.to, meta.features]);
    return this.call(accountId, "start", callId, timing.keepClosedMs, [
      String(timing.graceMs),
      encodedMeta,
      ...pairs(steps),
    ]);
  }

  renew(
    accountId: string,
    callId: string,
    usedSeconds: number,
    steps: HoldPair[],
    timing: { graceMs: number; keepClosedMs: number },
  ) {
    return this.call(accountId, "renew", callId, timing.keepClosedMs, [
      String(timing.graceMs),
      String(usedSeconds),
      ...pairs(steps),
    ]);
  }

  end(accountId: string, callId: string, holdMicros: bigint, timing: { keepClosedMs: number }) {
    return this.call(accountId, "end", callId, timing.keepClosedMs, [holdMicros.toString()]);
  }

  list(accountId: string, timing: { keepClosedMs: number }, callId = "") {
    return this.call(accountId, "list", callId, timing.keepClosedMs, []);
  }

  close(
    accountId: string,
    callId: string,
    rev: number,
    state: "settled" | "expired",
    timing: { keepClosedMs: number },
  ) {
    return this.call(accountId, "close", callId, timing.keepClosedMs, [String(rev), state]);
  }

  private async call(
    accountId: string,
    op: string,
    callId: string,
    keepClosedMs: number,
    args: string[],
  ): Promise<CallReply | "missing"> {
    const reply = await this.redis.rs1_calls(
      accountKeys(accountId).state,
      op,
      callId,
      String(keepClosedMs),
      ...args,
      scriptThresholds.block,
    );
    if (reply === -1) return "missing";
    const [outcome, balance, others, now, session, ...rest] = reply as string[];
    const sessions = [];
    for (let i = 0; i < rest.length; i += 2) sessions.push(decodeSession(rest[i]!, rest[i + 1]!));
    return {
      outcome: outcome as CallReply["outcome"],
      balanceMicros: BigInt(balance!),
      othersHeldMicros: BigInt(others!),
      nowMs: Number(now),
      session: session ? decodeSession(callId, session) : undefined,
      sessions,
    };
  }
}

function pairs(steps: HoldPair[]): string[] {
  return [String(steps.length), ...steps.flatMap((s) => [String(s.seconds), s.holdMicros.toString()])];
}
