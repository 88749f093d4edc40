/** Accounts and API keys in Postgres. */
import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import type { AccountSettings } from "../../balances/types.js";
import { settingsOf, type AccountRow } from "./ledger.js";

export interface NewAccount {
  accountId: string;
  adminEmail: string;
  trial: boolean;
  /** The rate plan (SPEC §10); `default` when not given. */
  plan?: string;
}

export async function createAccount(pool: pg.Pool, account: NewAccount): Promise<boolean> {
  const { rowCount } = await pool.query(
    `insert into accounts (account_id, admin_email, trial, plan) values ($1, $2, $3, coalesce($4, 'default'))
     on conflict (account_id) do nothing`,
    [account.accountId, account.adminEmail, account.trial, account.plan ?? null],
  );
  return rowCount === 1;
}

/** Whether a plan has an imported version: an account may only be put on such a plan. */
export async function planHasVersion(pool: pg.Pool, plan: string): Promise<boolean> {
  const { rows } = await pool.query("select 1 from rate_versions where plan = $1 limit 1", [plan]);
  return rows.length > 0;
}

export async function getAccount(pool: pg.Pool, accountId: string): Promise<AccountRow | undefined> {
  const { rows } = await pool.query<AccountRow>("select * from accounts where account_id = $1", [accountId]);
  return rows[0];
}

export async function listAccountIds(pool: pg.Pool, after: string, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ account_id: string }>(
    "select account_id from accounts where account_id > $1 order by account_id limit $2",
    [after, limit],
  );
  return rows.map((r) => r.account_id);
}

/** The columns `accounts set` may change; undefined leaves a column as it is. */
export interface AccountChanges {
  trial?: boolean;
  adminEmail?: string;
  rechargeMode?: "online" | "offline";
  /** Offline auto-recharge; null clears all three. */
  offline?: { reloadMicros: bigint; thresholdMicros: bigint; monthlyMaxMicros: bigint } | null;
  /** Online auto-recharge (the admin's, through the API). */
  autoRecharge?: { enabled: boolean; amountMicros: bigint | null; monthlyLimitMicros: bigint | null };
  /** Set once per account: a customer already saved is kept (concurrent first saves agree). */
  stripeCustomerId?: string;
  stripePaymentMethod?: string;
  /** The rate plan; the caller checks it has a version. */
  plan?: string;
}

/** Applies changes and returns the account's settings after them; undefined if it does not exist. */
export async function updateAccount(
  pool: pg.Pool,
  accountId: string,
  changes: AccountChanges,
): Promise<{ row: AccountRow; settings: AccountSettings } | undefined> {
  const sets: string[] = [];
  const values: unknown[] = [accountId];
  const set = (column: string, value: unknown) => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (changes.trial !== undefined) set("trial", changes.trial);
  if (changes.adminEmail !== undefined) set("admin_email", changes.adminEmail);
  if (changes.rechargeMode !== undefined) set("recharge_mode", changes.rechargeMode);
  if (changes.offline !== undefined) {
    set("offline_reload_micros", changes.offline?.reloadMicros.toString() ?? null);
    set("offline_threshold_micros", changes.offline?.thresholdMicros.toString() ?? null);
    set("offline_monthly_max_micros", changes.offline?.monthlyMaxMicros.toString() ?? null);
  }
  if (changes.autoRecharge !== undefined) {
    set("auto_recharge_enabled", changes.autoRecharge.enabled);
    set("auto_recharge_amount_micros", changes.autoRecharge.amountMicros?.toString() ?? null);
    set("auto_recharge_monthly_limit_micros", changes.autoRecharge.monthlyLimitMicros?.toString() ?? null);
  }
  if (changes.stripeCustomerId !== undefined) {
    values.push(changes.stripeCustomerId);
    sets.push(`stripe_customer_id = coalesce(stripe_customer_id, $${values.length})`);
  }
  if (changes.stripePaymentMethod !== undefined) set("stripe_payment_method", changes.stripePaymentMethod);
  if (changes.plan !== undefined) set("plan", changes.plan);
  sets.push("updated_at = now()");
  // Orders the copies of the settings in Redis as the commits are ordered (settings-1.lua).
  sets.push("settings_version = settings_version + 1");
  const client = await pool.connect();
  try {
    await client.query("begin");
    const updated = await client.query<AccountRow>(
      `update accounts set ${sets.join(", ")} where account_id = $1 returning *`,
      values,
    );
    if (updated.rows.length === 0) {
      await client.query("rollback");
      return undefined;
    }
    // Online auto-recharge is not available on trial accounts or on offline recharge (SPEC §1.7-§1.8).
    const { rows } = await client.query<AccountRow>(
      `update accounts set auto_recharge_enabled = auto_recharge_enabled and not trial and recharge_mode = 'online'
        where account_id = $1 returning *`,
      [accountId],
    );
    await client.query("commit");
    return { row: rows[0]!, settings: settingsOf(rows[0]!) };
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export const API_KEY_ROLES = ["admin", "agent", "switch"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** Keys are 256 random bits: a plain SHA-256 is a safe, constant-cost lookup hash. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export async function createApiKey(
  pool: pg.Pool,
  role: ApiKeyRole,
  accountId: string | null,
): Promise<{ key_id: string; api_key: string; role: ApiKeyRole; account_id: string | null }> {
  const keyId = `key_${randomBytes(6).toString("hex")}`;
  const apiKey = `rsk_${randomBytes(32).toString("base64url")}`;
  await pool.query("insert into api_keys (key_id, account_id, role, key_hash) values ($1, $2, $3, $4)", [
    keyId,
    accountId,
    role,
    hashApiKey(apiKey),
  ]);
  return { key_id: keyId, api_key: apiKey, role, account_id: accountId };
}

export async function listApiKeys(pool: pg.Pool, accountId?: string) {
  const { rows } = await pool.query<{
    key_id: string;
    account_id: string | null;
    role: ApiKeyRole;
    created_at: Date;
    revoked_at: Date | null;
  }>(
    `select key_id, account_id, role, created_at, revoked_at from api_keys
      where ($1::text is null or account_id = $1) order by created_at, key_id`,
    [accountId ?? null],
  );
  return rows;
}

export async function revokeApiKey(pool: pg.Pool, keyId: string): Promise<"revoked" | "already" | "unknown"> {
  const { rows } = await pool.query<{ was_revoked: boolean }>(
    `update api_keys k set revoked_at = coalesce(k.revoked_at, now())
       from (select key_id, revoked_at is not null as was_revoked from api_keys where key_id = $1) old
      where k.key_id = old.key_id returning old.was_revoked`,
    [keyId],
  );
  if (rows.length === 0) return "unknown";
  return rows[0]!.was_revoked ? "already" : "revoked";
}

/** The live (not revoked) API key with this hash, or undefined. */
export async function findApiKey(
  pool: pg.Pool,
  keyHash: string,
): Promise<{ key_id: string; role: ApiKeyRole; account_id: string | null } | undefined> {
  const { rows } = await pool.query<{ key_id: string; role: ApiKeyRole; account_id: string | null }>(
    "select key_id, role, account_id from api_keys where key_hash = $1 and revoked_at is null",
    [keyHash],
  );
  return rows[0];
}
