/** Deck errors name file, line and column; a deck with any bad row is rejected whole. */
import { describe, expect, it } from "vitest";
import { DeckError, type DeckIssue } from "../../src/core/decks/deck-error.js";
import { parseNumberDeck } from "../../src/core/decks/number-deck.js";
import { parseRateDeck } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { rateDeck, surchargeDeck } from "../support/decks.js";

function issues(parse: () => unknown): DeckIssue[] {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(DeckError);
    return [...(err as DeckError).issues];
  }
  throw new Error("expected the deck to be rejected");
}

const GOOD = "44,UK,outbound,0.015,0,60,60,2026-01-01";

describe("rate deck", () => {
  it("reads every column, with quoted destinations, CRLF and a BOM", () => {
    const text =
      "\uFEFF" +
      rateDeck('4420,"London, fixed",outbound,0.012000,0.5,30,6,2026-01-01T12:00:00+01:00').replace(
        /\n/g,
        "\r\n",
      );
    expect(parseRateDeck(text, "r.csv")).toEqual([
      {
        prefix: "4420",
        destination: "London, fixed",
        direction: "outbound",
        ratePerMinuteMicros: 12_000,
        connectionFeeMicros: 500_000,
        initialIncrement: 30,
        subsequentIncrement: 6,
        effectiveFromMicros: Date.UTC(2026, 0, 1, 11) * 1000,
        file: "r.csv",
        line: 2,
      },
    ]);
  });

  it("accepts the header's columns in any order", () => {
    const text =
      "direction,prefix,destination,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from\ninbound,1,US,0.004,0,6,6,2026-01-01\n";
    expect(parseRateDeck(text, "r.csv")[0]).toMatchObject({ prefix: "1", direction: "inbound" });
  });

  it.each([
    ["prefix", 1, "+44"],
    ["prefix", 1, "1234567890123456"],
    ["prefix", 1, ""],
    ["direction", 3, "both"],
    ["rate_per_minute", 4, "0.0000001"],
    ["rate_per_minute", 4, "-0.01"],
    ["rate_per_minute", 4, "1e-3"],
    ["rate_per_minute", 4, "abc"],
    ["connection_fee", 5, "0,5"],
    ["initial_increment", 6, "0"],
    ["initial_increment", 6, "1.5"],
    ["subsequent_increment", 7, "-6"],
    ["effective_from", 8, "2026-13-01"],
    ["effective_from", 8, "2026-01-01T00:00:00"],
    ["effective_from", 8, "01/01/2026"],
  ])("names line, column and field when %s is %j", (field, column, value) => {
    const fields = GOOD.split(",");
    fields[column - 1] = value.includes(",") ? `"${value}"` : value;
    const found = issues(() => parseRateDeck(rateDeck(GOOD, fields.join(",")), "deck.csv"));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: "deck.csv", line: 3, column, field });
  });

  it("rejects the whole deck and lists every bad row, not just the first", () => {
    const text = rateDeck(
      GOOD,
      "1,US,outbound,x,0,6,6,2026-01-01",
      GOOD.replace("44", "33"),
      "49,DE,outbound,0.02,0,0,1,2026-01-01",
    );
    let error: DeckError | undefined;
    try {
      parseRateDeck(text, "deck.csv");
    } catch (err) {
      error = err as DeckError;
    }
    expect(error?.issues.map((i) => `${i.line}:${i.column}`)).toEqual(["3:4", "5:6"]);
    expect(error?.message).toContain('deck.csv:3:4: rate_per_minute: "x" is not a decimal number');
    expect(error?.message).toContain("nothing loaded");
  });

  it("refuses two rows with the same prefix, direction and effective_from, naming both lines", () => {
    const found = issues(() =>
      parseRateDeck(rateDeck(GOOD, "44,UK again,outbound,0.02,0,60,60,2026-01-01T00:00:00Z"), "d.csv"),
    );
    expect(found).toEqual([
      {
        file: "d.csv",
        line: 3,
        column: 0,
        field: undefined,
        problem: "same prefix, direction and effective_from as line 2",
      },
    ]);
  });

  it("allows the same prefix in both directions, and in one direction with different dates", () => {
    const rows = parseRateDeck(
      rateDeck(GOOD, GOOD.replace("outbound", "inbound"), GOOD.replace("2026-01-01", "2026-06-01")),
      "d.csv",
    );
    expect(rows).toHaveLength(3);
  });

  it.each([
    [
      "an unknown column",
      "prefix,destination,direction,rate,connection_fee,initial_increment,subsequent_increment,effective_from",
      /unknown column "rate"/,
    ],
    [
      "a missing column",
      "prefix,destination,direction,rate_per_minute,connection_fee,initial_increment,subsequent_increment",
      /missing column "effective_from"/,
    ],
    [
      "a repeated column",
      "prefix,prefix,destination,direction,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from",
      /column "prefix" appears twice/,
    ],
  ])("refuses a header with %s", (_case, header, problem) => {
    const found = issues(() => parseRateDeck(`${header}\n${GOOD}\n`, "d.csv"));
    expect(found[0]).toMatchObject({ line: 1 });
    expect(found.map((i) => i.problem).join("\n")).toMatch(problem);
  });

  it("refuses an empty file and a row with the wrong number of fields", () => {
    expect(issues(() => parseRateDeck("", "d.csv"))[0]?.problem).toMatch(/header row is required/);
    expect(issues(() => parseRateDeck(rateDeck("44,UK,outbound,0.015"), "d.csv"))[0]).toMatchObject({
      line: 2,
      problem: "has 4 fields, the header has 8",
    });
  });

  it("refuses broken quoting with its line", () => {
    const found = issues(() =>
      parseRateDeck(rateDeck(GOOD, '33,"France,outbound,0.01,0,60,60,2026-01-01'), "d.csv"),
    );
    expect(found[0]?.problem).toMatch(/not valid CSV/);
  });
});

describe("surcharge deck", () => {
  it("reads features and refuses bad names, rates and duplicates", () => {
    expect(parseSurchargeDeck(surchargeDeck("recording,0.0025,2026-01-01"), "s.csv")).toEqual([
      {
        feature: "recording",
        ratePerMinuteMicros: 2_500,
        effectiveFromMicros: Date.UTC(2026, 0, 1) * 1000,
        file: "s.csv",
        line: 2,
      },
    ]);
    const found = issues(() =>
      parseSurchargeDeck(
        surchargeDeck(
          "Recording,0.0025,2026-01-01",
          "barging,0.1234567,2026-01-01",
          "sip_phone,0.001,2026-01-01",
          "sip_phone,0.002,2026-01-01",
        ),
        "s.csv",
      ),
    );
    expect(found.map((i) => [i.line, i.column, i.field])).toEqual([
      [2, 1, "feature"],
      [3, 2, "rate_per_minute"],
      [5, 0, undefined],
    ]);
  });
});

describe("number price list", () => {
  it("reads prices and refuses an unknown number type", () => {
    const header = "prefix,number_type,monthly_price,effective_from";
    expect(parseNumberDeck(`${header}\n1,toll_free,2.00,2026-01-01\n`, "n.csv")[0]).toMatchObject({
      prefix: "1",
      numberType: "toll_free",
      monthlyPriceMicros: 2_000_000,
    });
    expect(
      issues(() => parseNumberDeck(`${header}\n1,landline,2.00,2026-01-01\n`, "n.csv"))[0],
    ).toMatchObject({
      line: 2,
      column: 2,
      field: "number_type",
    });
  });
});
