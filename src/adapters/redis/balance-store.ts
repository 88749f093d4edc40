/**
 * BalanceStore on Redis: the real-time balances, applied by Lua scripts (one call per
 * account per batch, auto-pipelined), each account's keys in its own hash slot.
 */
import type { Cluster, Redis } from "ioredis";
import type { BalanceStore, StoreSnapshot } from "../../balances/ports.js";
import type {
  AccountSettings,
  AccountSnapshot,
  Applied,
  BalanceEventType,
  EntryKind,
  EntryRequest,
} from "../../balances/types.js";
import { accountKeys, allAccountKeys } from "./keys.js";
import { defineBalanceScripts, type ScriptedRedis } from "./scripts.js";

const MISSING = -1;

interface ScriptResult {
  key: string;
  entries: {
    seq: string;
    key: string;
    kind: string;
    amount: string;
    before: string;
    after: string;
    cause: string;
  }[];
  events: { type: string; balance: string; amount?: string; cause: string }[] | Record<string, never>;
}

export class RedisBalanceStore implements BalanceStore {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis | Cluster) {
    this.redis = defineBalanceScripts(redis);
  }

  async apply(
    byAccount: Map<string, EntryRequest[]>,
    month: string,
  ): Promise<Map<string, Applied[] | "missing">> {
    const calls = [...byAccount].map(
      async ([accountId, requests]): Promise<[string, Applied[] | "missing"]> => {
        const keys = accountKeys(accountId);
        const args = [month, String(requests.length)];
        for (const r of requests) args.push(r.key, r.amountMicros.toString(), r.kind, r.cause);
        const reply = await this.redis.rs1_apply(keys.state, keys.pending, ...args);
        if (reply === MISSING) return [accountId, "missing"];
        const results = reply as string[];
        return [accountId, requests.map((request, i) => parseApplied(accountId, request, results[i]!))];
      },
    );
    return new Map(await Promise.all(calls));
  }

  async restore(snapshot: AccountSnapshot): Promise<boolean> {
    const keys = accountKeys(snapshot.accountId);
    const fields = [
      "balance",
      snapshot.balanceMicros.toString(),
      "seq",
      snapshot.seq.toString(),
      ...settingsFields(snapshot.settings),
      "mtd_month",
      snapshot.month,
      "mtd_auto",
      snapshot.monthAutoRechargeMicros.toString(),
      "mtd_off",
      snapshot.monthOfflineReloadMicros.toString(),
      "capped_auto",
      snapshot.cappedAutoThisMonth ? snapshot.month : "",
      "capped_off",
      snapshot.cappedOfflineThisMonth ? snapshot.month : "",
    ];
    return (await this.redis.rs1_restore(keys.state, keys.pending, ...fields)) === 1;
  }

  async confirm(byAccount: Map<string, string[]>): Promise<void> {
    await Promise.all(
      [...byAccount]
        .filter(([, k]) => k.length > 0)
        .map(([accountId, k]) => this.redis.hdel(accountKeys(accountId).pending, ...k)),
    );
  }

  async snapshot(accountId: string): Promise<StoreSnapshot | "missing"> {
    const keys = accountKeys(accountId);
    const reply = await this.redis.rs1_snapshot(keys.state, keys.pending);
    if (reply === MISSING) return "missing";
    const [balance, seq, ...pending] = reply as string[];
    return {
      balanceMicros: BigInt(balance!),
      seq: BigInt(seq!),
      unconfirmed: pending.map((json) => {
        const parsed = JSON.parse(json) as ScriptResult;
        const first = parsed.entries[0]!;
        const request: EntryRequest = {
          accountId,
          key: parsed.key,
          kind: first.kind as EntryKind,
          amountMicros: BigInt(first.amount),
          cause: first.cause,
        };
        return parseApplied(accountId, request, json);
      }),
    };
  }

  async updateSettings(accountId: string, settings: AccountSettings): Promise<boolean> {
    return (await this.redis.rs1_settings(accountKeys(accountId).state, ...settingsFields(settings))) === 1;
  }

  async forget(accountId: string): Promise<void> {
    await this.redis.del(...allAccountKeys(accountId));
  }
}

function settingsFields(s: AccountSettings): string[] {
  const micros = (v: bigint | null) => (v ?? 0n).toString();
  return [
    "trial",
    s.trial ? "1" : "0",
    "mode",
    s.rechargeMode,
    "auto_on",
    s.autoRechargeEnabled ? "1" : "0",
    "auto_amount",
    micros(s.autoRechargeAmountMicros),
    "auto_limit",
    micros(s.autoRechargeMonthlyLimitMicros),
    "off_reload",
    micros(s.offlineReloadMicros),
    "off_threshold",
    micros(s.offlineThresholdMicros),
    "off_max",
    micros(s.offlineMonthlyMaxMicros),
  ];
}

function parseApplied(accountId: string, request: EntryRequest, json: string): Applied {
  const parsed = JSON.parse(json) as ScriptResult;
  // cjson writes an empty Lua table as {}, not [].
  const events = Array.isArray(parsed.events) ? parsed.events : [];
  return {
    request,
    entries: parsed.entries.map((e) => ({
      accountId,
      seq: BigInt(e.seq),
      key: e.key,
      kind: e.kind as EntryKind,
      amountMicros: BigInt(e.amount),
      beforeMicros: BigInt(e.before),
      afterMicros: BigInt(e.after),
      cause: e.cause,
    })),
    events: events.map((e) => ({
      type: e.type as BalanceEventType,
      accountId,
      balanceMicros: BigInt(e.balance),
      amountMicros: e.amount === undefined ? null : BigInt(e.amount),
      cause: e.cause,
    })),
  };
}
