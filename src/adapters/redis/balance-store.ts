/**
 * BalanceStore on Redis: the real-time balances, applied by Lua scripts (many accounts
 * per call, auto-pipelined), each account's keys in its own hash slot.
 */
import type { Cluster, Redis } from "ioredis";
import type { BalanceStore, StoreSnapshot } from "../../balances/ports.js";
import type {
  AccountSettings,
  AccountSnapshot,
  Applied,
  EntryRequest,
  Refused,
} from "../../balances/types.js";
import { parseApplyResult, toApplied } from "./apply-result.js";
import { encodeSession } from "../../calls/types.js";
import { scriptThresholds } from "../../core/balance-rules.js";
import { accountKeys, allAccountKeys, PENDING_KEY_PATTERN, accountOfPendingKey } from "./keys.js";
import { defineBalanceScripts, type ScriptedRedis } from "./scripts.js";

const MISSING = -1;
/**
 * Entries per script call. A call costs more than an entry (a round of encoding on each
 * side), so accounts share calls; the bound keeps one call from holding Redis for long.
 */
const ENTRIES_PER_CALL = 1_000;

/**
 * Splits accounts into script calls of up to ENTRIES_PER_CALL entries, an account's
 * entries staying together. In a cluster each account gets a call of its own: the keys
 * of a call must share a hash slot, and a batch's accounts rarely do.
 */
export function scriptCalls<T>(accounts: [string, T[]][], cluster: boolean): [string, T[]][][] {
  if (cluster) return accounts.map((account) => [account]);
  const calls: [string, T[]][][] = [];
  let call: [string, T[]][] = [];
  let entries = 0;
  for (const account of accounts) {
    call.push(account);
    entries += account[1].length;
    if (entries >= ENTRIES_PER_CALL) {
      calls.push(call);
      call = [];
      entries = 0;
    }
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

export class RedisBalanceStore implements BalanceStore {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis | Cluster) {
    this.redis = defineBalanceScripts(redis);
  }

  async apply(
    byAccount: Map<string, EntryRequest[]>,
    month: string,
  ): Promise<Map<string, (Applied | Refused)[] | "missing">> {
    const calls = scriptCalls([...byAccount], this.redis.isCluster).map(async (accounts) => {
      const keys: string[] = [];
      const args: string[] = [month, scriptThresholds.low, scriptThresholds.block];
      for (const [accountId, requests] of accounts) {
        const { state, pending } = accountKeys(accountId);
        keys.push(state, pending);
        args.push(String(requests.length));
        for (const r of requests) {
          args.push(r.key, r.amountMicros.toString(), r.kind, r.floorMicros?.toString() ?? "");
        }
      }
      const replies =
        accounts.length === 1
          ? await this.redis.rs1_apply_one(keys[0]!, keys[1]!, args)
          : await this.redis.rs1_apply(keys.length, keys, args);
      return accounts.map(([accountId, requests], a): [string, (Applied | Refused)[] | "missing"] => {
        const reply = replies[a]!;
        if (reply === MISSING) return [accountId, "missing"];
        const results = reply as string[];
        return [
          accountId,
          requests.map((request, i) => toApplied(accountId, request, parseApplyResult(results[i]!))),
        ];
      });
    });
    return new Map((await Promise.all(calls)).flat());
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
      // The account's open call sessions come back with its balance (SPEC §8).
      ...(snapshot.calls ?? []).flatMap((call) => [`c:${call.callId}`, encodeSession(call)]),
      "open_calls",
      String(snapshot.calls?.length ?? 0),
    ];
    return (await this.redis.rs1_restore(keys.state, keys.pending, ...fields)) === 1;
  }

  async confirm(byAccount: Map<string, string[]>): Promise<void> {
    const nonEmpty = [...byAccount].filter(([, k]) => k.length > 0);
    await Promise.all(
      scriptCalls(nonEmpty, this.redis.isCluster).map((accounts) => {
        const keys = accounts.map(([accountId]) => accountKeys(accountId).pending);
        const args = accounts.flatMap(([, k]) => [String(k.length), ...k]);
        return keys.length === 1
          ? this.redis.rs1_confirm_one(keys[0]!, args)
          : this.redis.rs1_confirm(keys.length, keys, args);
      }),
    );
  }

  async snapshot(accountId: string): Promise<StoreSnapshot | "missing"> {
    const keys = accountKeys(accountId);
    const reply = await this.redis.rs1_snapshot(keys.state, keys.pending);
    if (reply === MISSING) return "missing";
    const [balance, seq, ...stored] = reply as string[];
    const pending: StoreSnapshot["pending"] = [];
    for (let i = 0; i < stored.length; i += 2) {
      const result = parseApplyResult(stored[i + 1]!);
      if (result.outcome !== "applied") throw new Error(`a refusal stored as pending: ${stored[i + 1]}`);
      pending.push({
        key: stored[i]!,
        entries: result.booked.map((b) => ({ seq: b.seq, amountMicros: b.afterMicros - b.beforeMicros })),
        appliedAtMs: result.appliedAtMs ?? 0,
      });
    }
    return { balanceMicros: BigInt(balance!), seq: BigInt(seq!), pending };
  }

  async updateSettings(accountId: string, settings: AccountSettings): Promise<boolean> {
    const state = accountKeys(accountId).state;
    return (
      (await this.redis.rs1_settings(state, settings.version.toString(), ...settingsFields(settings))) !== 0
    );
  }

  async forget(accountId: string): Promise<void> {
    await this.redis.del(...allAccountKeys(accountId));
  }

  async forgetIfPending(accountId: string, keys: string[]): Promise<boolean> {
    const { state, pending } = accountKeys(accountId);
    return (await this.redis.rs1_forget(state, pending, ...keys)) === 1;
  }

  async pendingAccounts(): Promise<string[]> {
    const nodes = this.redis.isCluster ? (this.redis as Cluster).nodes("master") : [this.redis as Redis];
    const accounts: string[] = [];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", PENDING_KEY_PATTERN, "COUNT", 1_000);
        cursor = next;
        for (const key of keys) accounts.push(accountOfPendingKey(key));
      } while (cursor !== "0");
    }
    return accounts;
  }
}

/**
 * The settings as apply-2n.lua reads them: which auto-recharge applies, and its numbers;
 * and their version, which settings-1.lua compares.
 */
export function settingsFields(s: AccountSettings): string[] {
  const micros = (v: bigint | null) => (v ?? 0n).toString();
  const online =
    s.rechargeMode === "online" && s.autoRechargeEnabled && (s.autoRechargeAmountMicros ?? 0n) > 0n;
  const offline = s.rechargeMode === "offline" && (s.offlineReloadMicros ?? 0n) > 0n;
  const auto = s.trial ? "none" : online ? "online" : offline ? "offline" : "none";
  return [
    "settings_version",
    s.version.toString(),
    "auto",
    auto,
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
