/** The shapes ratestream writes to Kafka (SPEC §4). */
import type { Cdr } from "../core/cdr.js";
import type { Rated } from "../core/rating/rate.js";
import { jsonMicros } from "../core/money.js";
import { formatInstant } from "../core/time.js";
import type { IncomingMessage, OutgoingMessage } from "../adapters/kafka/types.js";

export const DEAD_LETTER_CODES = ["invalid_cdr", "decode_error", "no_rate", "unknown_account"] as const;
export type DeadLetterCode = (typeof DEAD_LETTER_CODES)[number];

/** How a call was rated, as `rated-cdrs` carries it and the ledger entry's details keep it. */
export interface RatingFields {
  charge_micros: number;
  billed_seconds: number;
  prefix: string;
  /** The account's plan the version belongs to (SPEC §10); null for decks read from files. */
  plan: string | null;
  rate_version: number | null;
  rate_effective_from: string;
}

export function ratingFields(rated: Rated): RatingFields {
  return {
    charge_micros: jsonMicros(rated.chargeMicros),
    billed_seconds: rated.billedSeconds,
    prefix: rated.rate.prefix,
    plan: rated.plan,
    rate_version: rated.version,
    rate_effective_from: formatInstant(rated.rate.effectiveFromMicros),
  };
}

/** `rated-cdrs`: the CDR's fields plus how it was rated. */
export function ratedCdrMessage(cdr: Cdr, rating: RatingFields): OutgoingMessage {
  // Spelled out rather than spread: this runs once per CDR and spreads were a hot spot.
  const value = {
    cdr_id: cdr.cdr_id,
    account_id: cdr.account_id,
    direction: cdr.direction,
    from: cdr.from,
    to: cdr.to,
    answered_at: cdr.answered_at,
    duration_seconds: cdr.duration_seconds,
    surcharges: cdr.surcharges,
    charge_micros: rating.charge_micros,
    billed_seconds: rating.billed_seconds,
    prefix: rating.prefix,
    plan: rating.plan,
    rate_version: rating.rate_version,
    rate_effective_from: rating.rate_effective_from,
  };
  return { key: cdr.account_id, value: JSON.stringify(value) };
}

/** `cdrs.dlq`: the original bytes and key, with why and from where. */
export function deadLetterMessage(
  message: IncomingMessage,
  source: { topic: string; partition: number },
  code: DeadLetterCode,
  reason: string,
): OutgoingMessage {
  return {
    key: message.key,
    value: message.value,
    headers: {
      "x-error-code": code,
      // Bounded: an oversized dead letter would be refused by Kafka and block the partition.
      "x-error-message": reason.length > 1_000 ? `${reason.slice(0, 1_000)}…` : reason,
      "x-source-topic": source.topic,
      "x-source-partition": String(source.partition),
      "x-source-offset": message.offset,
    },
  };
}

export interface BalanceEventMessage {
  event_id: string;
  type: string;
  account_id: string;
  balance_micros: number;
  currency: string;
  amount_micros: number | null;
  occurred_at: string;
  cause: string;
  /** recharge_failed only: why. */
  reason?: string;
}

export function balanceEventMessage(event: BalanceEventMessage): OutgoingMessage {
  return { key: event.account_id, value: JSON.stringify(event) };
}
