/**
 * Writes synthetic CDRs as JSON lines to stdout, destinations drawn from a deck's
 * prefixes:  tsx bench/gen-cdrs.ts --count 1000000 [--deck rates/rates.csv] [--seed 1]
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseRateDeck } from "../src/core/decks/rate-deck.js";
import { generateCdrs } from "../src/tools/cdr-generator.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    deck: { type: "string", default: "rates/rates.csv" },
    seed: { type: "string", default: "1" },
    accounts: { type: "string", default: "10000" },
  },
});
const rows = parseRateDeck(readFileSync(values.deck, "utf8"), values.deck);
const prefixes = {
  outbound: rows.filter((r) => r.direction === "outbound").map((r) => r.prefix),
  inbound: rows.filter((r) => r.direction === "inbound").map((r) => r.prefix),
};
const accounts = Array.from({ length: Number(values.accounts) }, (_, i) => `acct-${i}`);

let buffer = "";
for (const cdr of generateCdrs(Number(values.count), {
  seed: Number(values.seed),
  accounts,
  prefixes,
  unratedShare: 0.01,
})) {
  buffer += JSON.stringify(cdr) + "\n";
  if (buffer.length > 1 << 16) {
    if (!process.stdout.write(buffer)) await once(process.stdout, "drain");
    buffer = "";
  }
}
process.stdout.write(buffer);
