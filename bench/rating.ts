/**
 * bench/rating: the pure rating step on one core against a 50,000-prefix deck with
 * three versions per prefix, and the time to load that deck from CSV text.
 * Baseline in the same run: a plain Map lookup (slice the number at each length, newest
 * row in force by linear scan), i.e. what the trie replaces.
 *
 *   npm run bench:rating [-- --prefixes 50000 --cdrs 1000000 --runs 5]
 */
import { parseArgs } from "node:util";
import { validateCdr, type Cdr } from "../src/core/cdr.js";
import { parseRateDeck, type RateRow } from "../src/core/decks/rate-deck.js";
import { rateCdr } from "../src/core/rating/rate.js";
import { buildRateTable } from "../src/core/rating/rate-table.js";
import { generateCdrs } from "../src/tools/cdr-generator.js";
import { carrierDeck } from "./lib/carrier-deck.js";
import { median, machine } from "./lib/report.js";

const { values } = parseArgs({
  options: {
    prefixes: { type: "string", default: "50000" },
    cdrs: { type: "string", default: "1000000" },
    runs: { type: "string", default: "5" },
  },
});
const prefixCount = Number(values.prefixes);
const cdrCount = Number(values.cdrs);
const runs = Number(values.runs);

const deck = carrierDeck(prefixCount);
console.log(
  `deck: ${prefixCount} prefixes, ${deck.rows} rows, ${(deck.csv.length / 1e6).toFixed(1)} MB of CSV`,
);

// Load: parse + validate + index, from text.
const loadMs: number[] = [];
let table = buildRateTable({ rates: parseRateDeck(deck.csv, "bench.csv") });
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  table = buildRateTable({ rates: parseRateDeck(deck.csv, "bench.csv") });
  loadMs.push(performance.now() - t0);
}

const cdrs: Cdr[] = [];
for (const raw of generateCdrs(cdrCount, {
  accounts: Array.from({ length: 10_000 }, (_, i) => `acct-${i}`),
  prefixes: deck.prefixes,
  unratedShare: 0.02,
  surchargeShare: 0,
})) {
  const decoded = validateCdr(raw);
  if (decoded.ok) cdrs.push(decoded.cdr);
}

function timeRuns(label: string, rateOne: (c: Cdr) => unknown): number {
  const perSecond: number[] = [];
  for (let r = 0; r < runs; r++) {
    let sink = 0;
    const t0 = performance.now();
    for (const c of cdrs) if (rateOne(c)) sink++;
    const seconds = (performance.now() - t0) / 1000;
    perSecond.push(cdrs.length / seconds);
    if (sink === 0) throw new Error("nothing rated");
  }
  const m = median(perSecond);
  console.log(
    `${label}: median ${Math.round(m).toLocaleString("en-US")} CDRs/s  (runs: ${perSecond.map((x) => Math.round(x)).join(", ")})`,
  );
  return m;
}

// Baseline: Map from "direction|prefix" to rows, probed at every length.
const byKey = new Map<string, RateRow[]>();
for (const row of parseRateDeck(deck.csv, "bench.csv")) {
  const key = `${row.direction}|${row.prefix}`;
  byKey.set(key, [...(byKey.get(key) ?? []), row]);
}
function naiveLookup(c: Cdr): RateRow | undefined {
  const digits = c.to.slice(1);
  for (let len = Math.min(15, digits.length); len >= 1; len--) {
    const rows = byKey.get(`${c.direction}|${digits.slice(0, len)}`);
    if (!rows) continue;
    let best: RateRow | undefined;
    for (const row of rows) {
      if (
        row.effectiveFromMicros <= c.answeredAtMicros &&
        (!best || row.effectiveFromMicros > best.effectiveFromMicros)
      )
        best = row;
    }
    if (best) return best;
  }
  return undefined;
}

const baseline = timeRuns("baseline (Map probe per length, lookup only)", naiveLookup);
const rating = timeRuns("rateCdr (trie lookup + billing + exact charge)", (c) => rateCdr(table, c).ok);

const result = {
  bench: "rating",
  machine: machine(),
  date: new Date().toISOString().slice(0, 10),
  prefixes: prefixCount,
  deck_rows: deck.rows,
  cdrs: cdrs.length,
  runs,
  load_ms_median: Math.round(median(loadMs)),
  load_ms_runs: loadMs.map(Math.round),
  rated_per_s: Math.round(rating),
  baseline_lookup_per_s: Math.round(baseline),
  ratio_vs_baseline: Number((rating / baseline).toFixed(2)),
};
console.log(`load: median ${result.load_ms_median} ms (runs: ${result.load_ms_runs.join(", ")})`);
console.log(JSON.stringify(result));
