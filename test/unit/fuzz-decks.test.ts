/**
 * Hostile decks (fast-check): any text parses to rows or is rejected whole with a
 * DeckError whose issues name the file, a line inside the text and a column — never
 * another exception, never a hang. One bad value in a good deck is found at its line
 * and column.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeckError } from "../../src/core/decks/deck-error.js";
import { parseNumberDeck } from "../../src/core/decks/number-deck.js";
import { parseRateDeck, RATE_DECK_COLUMNS } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { RatestreamError } from "../../src/errors.js";
import { rateDeck } from "../support/decks.js";

const PARSERS = {
  rates: parseRateDeck,
  surcharges: parseSurchargeDeck,
  numbers: parseNumberDeck,
} as const;

const HEADERS = {
  rates: RATE_DECK_COLUMNS.join(","),
  surcharges: "feature,rate_per_minute,effective_from",
  numbers: "prefix,number_type,monthly_price,effective_from",
};

/** Either rows, or a DeckError whose every issue points inside the text. */
function parseOrLocate(
  parse: (text: string, file: string) => unknown[],
  text: string,
): DeckError | undefined {
  try {
    parse(text, "deck.csv");
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(DeckError);
    const deckError = err as DeckError;
    expect(deckError).toBeInstanceOf(RatestreamError);
    expect(deckError.code).toBe("bad_deck");
    expect(deckError.issues.length).toBeGreaterThan(0);
    // A bare CR ends a record too (RFC 4180 readers differ; either way inside the text).
    const lines = text.split(/\r\n|\r|\n/).length;
    // Plain checks, one expect: a deck of 100,000 bad rows has 100,000 issues.
    const misplaced = deckError.issues.filter(
      (i) =>
        i.file !== "deck.csv" ||
        !(i.line >= 1 && i.line <= lines + 1) ||
        !(i.column >= 0) ||
        i.problem === "",
    );
    expect(misplaced).toEqual([]);
    return deckError;
  }
}

/** CSV-ish text: fields of any characters, quotes, commas, CR/LF, a BOM. */
const csvish = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom(",", '"', '""', "\n", "\r\n", "\r", "\uFEFF", " ", "\t", "\u0000", "\ud800"),
      fc.constantFrom("44", "outbound", "0.015", "60", "2026-01-01", "recording", "local"),
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(""));

describe("decks under hostile input", () => {
  for (const [deck, parse] of Object.entries(PARSERS)) {
    it(`${deck}: any text is rows or a located DeckError`, () => {
      fc.assert(
        fc.property(
          fc.oneof(
            csvish,
            csvish.map((body) => `${HEADERS[deck as keyof typeof HEADERS]}\n${body}`),
          ),
          (text) => void parseOrLocate(parse, text),
        ),
        { numRuns: 3_000 },
      );
    });
  }

  it("one bad value in a good rate deck is reported at its line and column", () => {
    const good = "44,UK,outbound,0.015,0,60,60,2026-01-01";
    const badValues: Record<number, string[]> = {
      0: ["4a", "", "1234567890123456", "+44"],
      2: ["sideways", "OUTBOUND", ""],
      3: ["-1", "0.0000001", "1e3", "abc", ""],
      4: ["-0.5", "0.1234567", "x"],
      5: ["0", "-60", "1.5", ""],
      6: ["0", "six"],
      7: ["2026-13-01", "2026-02-30", "yesterday", "2026-01-01T00:00:00", ""],
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.constantFrom(...Object.keys(badValues).map(Number)),
        fc.nat(),
        (rowsBefore, column, pick) => {
          const choices = badValues[column]!;
          const fields = good.split(",");
          fields[column] = choices[pick % choices.length]!;
          const rows = Array.from(
            { length: rowsBefore },
            (_, i) => `${4400 + i},UK,outbound,0.01,0,60,60,2026-01-01`,
          );
          const text = rateDeck(...rows, fields.join(","));
          const err = parseOrLocate(parseRateDeck, text);
          expect(err).toBeDefined();
          expect(err!.issues).toHaveLength(1);
          expect(err!.issues[0]).toMatchObject({ line: rowsBefore + 2, column: column + 1 });
          expect(err!.message).toContain(`deck.csv:${rowsBefore + 2}:${column + 1}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("huge fields, endless quotes and long lines are rejected quickly", () => {
    const header = `${RATE_DECK_COLUMNS.join(",")}\n`;
    const cases = [
      `${header}"${"x".repeat(5_000_000)}`, // a quote never closed
      `${header}${'""'.repeat(2_000_000)}`, // escaped quotes only
      `${header}${"9".repeat(10_000_000)},UK,outbound,0.01,0,60,60,2026-01-01\n`,
      `${header}44,"${"a".repeat(5_000_000)}",outbound,0.01,0,60,60,2026-01-01T00:00:00Z${"0".repeat(1_000_000)}\n`,
      `${header}${",".repeat(3_000_000)}\n`,
      `${header}${"44,UK,outbound,0.01,0,60,60,2026-01-01\n".repeat(100_000)}`, // duplicates
      "\n".repeat(1_000_000),
    ];
    for (const [i, text] of cases.entries()) {
      const started = Date.now();
      const err = parseOrLocate(parseRateDeck, text);
      expect(err).toBeDefined();
      // Each case is linear work of well under a second; the bound only catches a
      // blow-up (quadratic on megabytes runs for hours), so a busy machine cannot fail it.
      expect(Date.now() - started, `case ${i}`).toBeLessThan(30_000);
    }
  }, 300_000);
});
