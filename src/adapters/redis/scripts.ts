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

const SCRIPT_FILES = ["apply-2.lua", "restore-2.lua", "settings-1.lua", "snapshot-2.lua"] as const;

export interface BalanceScripts {
  rs1_apply(state: string, pending: string, ...args: string[]): Promise<number | string[]>;
  rs1_restore(state: string, pending: string, ...args: string[]): Promise<number>;
  rs1_settings(state: string, ...args: string[]): Promise<number>;
  rs1_snapshot(state: string, pending: string): Promise<number | (string | null)[]>;
}

export type ScriptedRedis = (Redis | Cluster) & BalanceScripts;

export function defineBalanceScripts(redis: Redis | Cluster): ScriptedRedis {
  for (const file of SCRIPT_FILES) {
    const [, name, keys] = /^(.+)-(\d+)\.lua$/.exec(file)!;
    const lua = readFileSync(new URL(file, SCRIPTS_DIR), "utf8");
    redis.defineCommand(`rs${SCRIPTS_VERSION}_${name}`, { numberOfKeys: Number(keys), lua });
  }
  return redis as ScriptedRedis;
}
