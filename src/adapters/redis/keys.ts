/**
 * Every Redis key ratestream uses, built in one place. All keys of an account carry its
 * hash tag `{account_id}`, so a script touching them stays in one cluster slot.
 * The `rs1` prefix is the key layout's version.
 */
export interface AccountKeys {
  state: string;
  pending: string;
}

export function accountKeys(accountId: string): AccountKeys {
  const tag = `rs1:{${accountId}}`;
  return { state: `${tag}:state`, pending: `${tag}:pending` };
}

/** Every key of an account, for deleting them together. */
export function allAccountKeys(accountId: string): string[] {
  const keys = accountKeys(accountId);
  return [keys.state, keys.pending];
}

/** Every account's pending hash, for SCAN MATCH. */
export const PENDING_KEY_PATTERN = "rs1:{*}:pending";

export function accountOfPendingKey(key: string): string {
  return key.slice("rs1:{".length, -"}:pending".length);
}
