import { readFile } from "node:fs/promises";
import { RatestreamError } from "../errors.js";
import { parseNumberDeck } from "../core/decks/number-deck.js";
import { parseRateDeck } from "../core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../core/decks/surcharge-deck.js";
import type { Decks } from "../core/rating/rate-table.js";

export interface DeckPaths {
  rates: string;
  surcharges?: string | undefined;
  numbers?: string | undefined;
}

export interface DeckTexts {
  rates: string;
  surcharges?: string | undefined;
  numbers?: string | undefined;
}

/** Reads the deck files named on a command line; a missing file is bad input (exit 2). */
export async function readDeckFiles(paths: DeckPaths): Promise<DeckTexts> {
  const read = async (path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      throw new RatestreamError("bad_usage", `cannot read deck ${path}: ${(err as Error).message}`);
    }
  };
  const [rates, surcharges, numbers] = await Promise.all([
    read(paths.rates),
    read(paths.surcharges),
    read(paths.numbers),
  ]);
  return { rates: rates!, surcharges, numbers };
}

/** Parses every deck; each error names its file (as given in `names`), line and column. */
export function parseDecks(texts: DeckTexts, names: DeckPaths): Decks {
  return {
    rates: parseRateDeck(texts.rates, names.rates),
    surcharges:
      texts.surcharges === undefined
        ? undefined
        : parseSurchargeDeck(texts.surcharges, names.surcharges ?? "surcharges"),
    numbers:
      texts.numbers === undefined ? undefined : parseNumberDeck(texts.numbers, names.numbers ?? "numbers"),
  };
}
