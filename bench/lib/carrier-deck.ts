/**
 * A carrier-sized rate deck for benchmarks: distinct prefixes under real country codes,
 * each with several dated versions, as CSV text (so loading is measured from text).
 */
import { prng } from "../../src/tools/cdr-generator.js";
import { RATE_DECK_COLUMNS } from "../../src/core/decks/rate-deck.js";

const COUNTRY_CODES = [
  "1",
  "44",
  "49",
  "33",
  "39",
  "34",
  "31",
  "46",
  "48",
  "55",
  "52",
  "54",
  "61",
  "64",
  "81",
  "82",
  "86",
  "91",
  "62",
  "63",
  "66",
  "84",
  "27",
  "234",
  "254",
  "20",
  "971",
  "966",
  "972",
  "90",
  "7",
  "380",
  "351",
  "353",
  "358",
];
const VERSION_DATES = ["2026-01-01", "2026-06-01T00:00:00Z", "2026-12-01T00:00:00Z"];

export interface CarrierDeck {
  csv: string;
  rows: number;
  prefixes: { outbound: string[]; inbound: string[] };
}

/** priceSeed: other prices on the same prefixes (one deck per rate plan). */
export function carrierDeck(prefixCount: number, versions = 3, seed = 7, priceSeed?: number): CarrierDeck {
  let random = prng(seed);
  const seen = new Set<string>();
  const outbound: string[] = [];
  const inbound: string[] = [];
  while (seen.size < prefixCount) {
    const cc = COUNTRY_CODES[Math.floor(random() * COUNTRY_CODES.length)]!;
    let prefix = cc;
    const extra = 1 + Math.floor(random() * 5);
    for (let i = 0; i < extra; i++) prefix += Math.floor(random() * 10);
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    (random() < 0.8 ? outbound : inbound).push(prefix);
  }
  if (priceSeed !== undefined) random = prng(priceSeed);
  const lines = [RATE_DECK_COLUMNS.join(",")];
  for (const [direction, list] of [
    ["outbound", outbound],
    ["inbound", inbound],
  ] as const) {
    for (const prefix of list) {
      for (let v = 0; v < versions; v++) {
        const rate = (random() * 0.2).toFixed(6);
        const fee = random() < 0.2 ? (random() * 0.02).toFixed(4) : "0";
        const [init, sub] = random() < 0.5 ? [60, 60] : random() < 0.5 ? [30, 6] : [1, 1];
        lines.push(
          `${prefix},"Destination ${prefix}",${direction},${rate},${fee},${init},${sub},${VERSION_DATES[v % VERSION_DATES.length]}`,
        );
      }
    }
  }
  return { csv: lines.join("\n") + "\n", rows: lines.length - 1, prefixes: { outbound, inbound } };
}
