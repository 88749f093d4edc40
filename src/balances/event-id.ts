import { createHash } from "node:crypto";
import type { BalanceEventDraft, BalanceEventType } from "./types.js";

/**
 * A balance event's id: a function of (type, account, origin) only, so an event
 * recorded or published twice keeps its id and consumers de-duplicate by it. The origin
 * is what caused it, unique per account (the entry's idempotency key, a cap's month),
 * so a call "X" and an adjustment referenced "X" never share an id.
 * (The account is included because cdr_ids are unique per call leg, not per system.)
 */
export function balanceEventId(type: BalanceEventType, accountId: string, origin: string): string {
  const digest = createHash("sha256").update(`${type}\u0000${accountId}\u0000${origin}`).digest("hex");
  return `ev_${digest.slice(0, 32)}`;
}

export function eventIdOf(event: BalanceEventDraft): string {
  return balanceEventId(event.type, event.accountId, event.origin ?? event.cause);
}

export function invoiceId(accountId: string, key: string): string {
  return `inv_${createHash("sha256").update(`${accountId}\u0000${key}`).digest("hex").slice(0, 24)}`;
}
