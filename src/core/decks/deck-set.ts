import type { Decks } from "../rating/rate-table.js";
import { parseNumberDeck } from "./number-deck.js";
import { parseRateDeck } from "./rate-deck.js";
import { parseSurchargeDeck } from "./surcharge-deck.js";

/** A complete set of decks as texts with the file names their errors cite. */
export interface DeckSet {
  rates: { file: string; text: string };
  surcharges?: { file: string; text: string } | undefined;
  numbers?: { file: string; text: string } | undefined;
}

/** Parses every deck of a set; throws DeckError naming file, line and column. */
export function parseDeckSet(set: DeckSet): Decks {
  return {
    rates: parseRateDeck(set.rates.text, set.rates.file),
    surcharges: set.surcharges && parseSurchargeDeck(set.surcharges.text, set.surcharges.file),
    numbers: set.numbers && parseNumberDeck(set.numbers.text, set.numbers.file),
  };
}
