import { readFile } from "node:fs/promises";
import { RatestreamError } from "../errors.js";
import type { DeckSet } from "../core/decks/deck-set.js";

export interface DeckPaths {
  rates: string;
  surcharges?: string | undefined;
  numbers?: string | undefined;
}

/**
 * Reads the deck files named on a command line into a DeckSet whose errors cite the
 * paths as given; a file that cannot be read is bad input (exit 2).
 */
export async function readDeckFiles(paths: DeckPaths): Promise<DeckSet> {
  const read = async (path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return { file: path, text: await readFile(path, "utf8") };
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
