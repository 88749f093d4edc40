/**
 * Loads the Lua scripts (one per file, `<name>-<numberOfKeys>.lua`) and registers them
 * on a connection under versioned command names, so two releases with different
 * scripts can share one Redis during a rolling deploy.
 */
import { readFileSync } from "node:fs";
import type { Cluster, Redis } from "ioredis";

const SCRIPTS_DIR = new URL("./scripts/", import.meta.url);
/** Bump when any script changes meaning. */
export const SCRIPTS_VERSION = 1;

const SCRIPT_FILES = [
  "apply-2n.lua",
  "calls-1.lua",
  "confirm-1n.lua",
  "forget-2.lua",
  "restore-2.lua",
  "settings-1.lua",
  "snapshot-2.lua",
] as const;

/** Each script's call, by its name without the version. */
interface ScriptSignatures {
  /** Many accounts: each one's state and pending keys; the month, then each one's entries. */
  apply(numberOfKeys: number, keys: string[], args: string[]): Promise<(number | string[])[]>;
  apply_one(state: string, pending: string, args: string[]): Promise<(number | string[])[]>;
  /** One account's call sessions (calls-1.lua): its state key; op, call_id, then the op's own. */
  calls(state: string, ...args: string[]): Promise<number | string[]>;
  /** Many accounts: each one's pending key; each one's count and keys. */
  confirm(numberOfKeys: number, keys: string[], args: string[]): Promise<number>;
  confirm_one(pending: string, args: string[]): Promise<number>;
  forget(state: string, pending: string, ...keys: string[]): Promise<number>;
  restore(state: string, pending: string, ...args: string[]): Promise<number>;
  settings(state: string, ...args: string[]): Promise<number>;
  snapshot(state: string, pending: string): Promise<number | (string | null)[]>;
}

/** The command a script is registered under: its name behind SCRIPTS_VERSION. */
type Command<Name extends string> = `rs${typeof SCRIPTS_VERSION}_${Name}`;

/**
 * The registered commands, named from SCRIPTS_VERSION: bumping it renames them here, and
 * every call site still writing the old `rsN_` name stops compiling.
 */
export type BalanceScripts = {
  [Name in keyof ScriptSignatures as Command<Name>]: ScriptSignatures[Name];
};

export type ScriptedRedis = (Redis | Cluster) & BalanceScripts;

export function defineBalanceScripts(redis: Redis | Cluster): ScriptedRedis {
  for (const file of SCRIPT_FILES) {
    const [, name, keys, perAccount] = /^(.+)-(\d+)(n?)\.lua$/.exec(file)!;
    const lua = readFileSync(new URL(file, SCRIPTS_DIR), "utf8");
    const command: Command<string> = `rs${SCRIPTS_VERSION}_${name}`;
    if (perAccount) {
      // `<keys>n`: that many keys per account, for any number of accounts. The call
      // passes the number of keys first; `_one` takes a single account's keys, which
      // a cluster's auto-pipelining needs first to route the call to its slot.
      redis.defineCommand(command, { lua });
      redis.defineCommand(`${command}_one`, { numberOfKeys: Number(keys), lua });
    } else {
      redis.defineCommand(command, { numberOfKeys: Number(keys), lua });
    }
  }
  return redis as ScriptedRedis;
}
