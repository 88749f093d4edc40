/** The shapes ratestream writes to Kafka (SPEC §4). */
import type { Cdr } from "../core/cdr.js";
import type { Rated } from "../core/rating/rate.js";
import { formatInstant } from "../core/time.js";
import type { IncomingMessage, OutgoingMessage } from "../adapters/kafka/types.js";

export const DEAD_LETTER_CODES = ["invalid_cdr", "decode_error", "no_rate", "unknown_account"] as const;
export type DeadLetterCode = (typeof DEAD_LETTER_CODES)[number];

/** How a call was rated, as `rated-cdrs` carries it and the ledger entry's details keep it. */
export interface RatingFields {
  charge_micros: number;
  billed_seconds: number;
  prefix: string;
  rate_version: number | null;
  rate_effective_from: string;
}

export function ratingFields(rated: Rated): RatingFields {
  return {
    charge_micros: Number(rated.chargeMicros),
    billed_seconds: rated.billedSeconds,
    prefix: rated.rate.prefix,
    rate_version: rated.version,
    rate_effective_from: formatInstant(rated.rate.effectiveFromMicros),
  };
}

/** `rated-cdrs`: the CDR's fields plus how it was rated. */
export function ratedCdrMessage(cdr: Cdr, rating: RatingFields): OutgoingMessage {
  const { answeredAtMicros: _instant, ...fields } = cdr;
  return { key: cdr.account_id, value: JSON.stringify({ ...fields, ...rating }) };
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
      "x-error-message": reason,
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
