/** Small decks written inline in tests, parsed by the real deck code. */
import type { Cdr } from "../../src/core/cdr.js";
import { validateCdr } from "../../src/core/cdr.js";
import { parseRateDeck, RATE_DECK_COLUMNS } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { buildRateTable, type RateTable } from "../../src/core/rating/rate-table.js";

export function rateDeck(...rows: string[]): string {
  return [RATE_DECK_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

export function surchargeDeck(...rows: string[]): string {
  return ["feature,rate_per_minute,effective_from", ...rows].join("\n") + "\n";
}

export function table(rates: string[], surcharges?: string[]): RateTable {
  return buildRateTable({
    rates: parseRateDeck(rateDeck(...rates), "rates.csv"),
    surcharges:
      surcharges === undefined
        ? undefined
        : parseSurchargeDeck(surchargeDeck(...surcharges), "surcharges.csv"),
  });
}

export const baseCdr = {
  cdr_id: "c-1",
  account_id: "acme",
  direction: "outbound",
  from: "+14155550100",
  to: "+442071234567",
  answered_at: "2026-11-27T10:00:00Z",
  duration_seconds: 125,
};

/** A valid CDR with some fields replaced; throws if the result is not valid. */
export function cdr(overrides: Record<string, unknown> = {}): Cdr {
  const result = validateCdr({ ...baseCdr, ...overrides });
  if (!result.ok) throw new Error(result.error.message);
  return result.cdr;
}
