import { createHash } from "node:crypto";
import type { BalanceEventType } from "./types.js";

/**
 * A balance event's id: a function of (type, account, cause) only, so an event
 * recorded or published twice keeps its id and consumers de-duplicate by it.
 * (The account is included because cdr_ids are unique per call leg, not per system.)
 */
export function balanceEventId(type: BalanceEventType, accountId: string, cause: string): string {
  const digest = createHash("sha256").update(`${type}\u0000${accountId}\u0000${cause}`).digest("hex");
  return `ev_${digest.slice(0, 32)}`;
}

export function invoiceId(accountId: string, key: string): string {
  return `inv_${createHash("sha256").update(`${accountId}\u0000${key}`).digest("hex").slice(0, 24)}`;
}
