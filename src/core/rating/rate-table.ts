/**
 * One immutable version of the decks, indexed for rating: rates by direction and
 * longest prefix, surcharges by feature, number prices by type and longest prefix.
 */
import type { Direction } from "../cdr.js";
import type { NumberPriceRow, NumberType } from "../decks/number-deck.js";
import type { RateRow } from "../decks/rate-deck.js";
import type { SurchargeRow } from "../decks/surcharge-deck.js";
import { inForce, PrefixIndex } from "./prefix-index.js";

export interface Decks {
  rates: RateRow[];
  /** Absent: no surcharge deck, so any CDR with surcharges is no_rate. */
  surcharges?: SurchargeRow[];
  numbers?: NumberPriceRow[];
}

export interface RateTable {
  /** The stored version number; null for decks read straight from files (`ratestream rate`). */
  version: number | null;
  /** The plan the version belongs to (SPEC §10); null for decks read straight from files. */
  plan: string | null;
  rates: Record<Direction, PrefixIndex<RateRow>>;
  surcharges: Map<string, SurchargeRow[]>;
  numbers: Map<NumberType, PrefixIndex<NumberPriceRow>>;
  counts: { rates: number; surcharges: number; numbers: number };
}

export function buildRateTable(
  decks: Decks,
  version: number | null = null,
  plan: string | null = null,
): RateTable {
  const byDirection = (direction: Direction) =>
    new PrefixIndex(
      decks.rates.filter((r) => r.direction === direction).map((row) => ({ prefix: row.prefix, row })),
    );

  const surcharges = new Map<string, SurchargeRow[]>();
  for (const row of decks.surcharges ?? []) {
    const list = surcharges.get(row.feature) ?? [];
    list.push(row);
    surcharges.set(row.feature, list);
  }
  for (const list of surcharges.values()) list.sort((a, b) => a.effectiveFromMicros - b.effectiveFromMicros);

  const numbers = new Map<NumberType, PrefixIndex<NumberPriceRow>>();
  for (const type of new Set((decks.numbers ?? []).map((n) => n.numberType))) {
    const rows = (decks.numbers ?? []).filter((n) => n.numberType === type);
    numbers.set(type, new PrefixIndex(rows.map((row) => ({ prefix: row.prefix, row }))));
  }

  return {
    version,
    plan,
    rates: { outbound: byDirection("outbound"), inbound: byDirection("inbound") },
    surcharges,
    numbers,
    counts: {
      rates: decks.rates.length,
      surcharges: decks.surcharges?.length ?? 0,
      numbers: decks.numbers?.length ?? 0,
    },
  };
}

/** The surcharge row for a feature in force at an instant. */
export function surchargeInForce(table: RateTable, feature: string, at: number): SurchargeRow | undefined {
  const list = table.surcharges.get(feature);
  return list === undefined ? undefined : inForce(list, at);
}

/** The monthly price of a number (E.164 with +) of a type at an instant: longest prefix in force. */
export function numberPriceInForce(
  table: RateTable,
  number: string,
  type: NumberType,
  at: number,
): NumberPriceRow | undefined {
  return table.numbers.get(type)?.lookup(number, number.startsWith("+") ? 1 : 0, at);
}
