/** The deck CSV reader: RFC 4180 quoting, line numbers that match an editor's. */
import { describe, expect, it } from "vitest";
import { splitCsv } from "../../src/core/decks/csv.js";

describe("splitCsv", () => {
  it("splits plain lines, trims fields, skips blank lines, keeps line numbers", () => {
    expect(splitCsv("a,b\n\n 1 , 2 \r\n   \n3,4")).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 3, fields: ["1", "2"] },
      { line: 5, fields: ["3", "4"] },
    ]);
  });

  it("drops a leading byte-order mark", () => {
    expect(splitCsv("\uFEFFprefix,x\n")).toEqual([{ line: 1, fields: ["prefix", "x"] }]);
  });

  it("reads quoted fields with commas, doubled quotes and line breaks; later lines keep their numbers", () => {
    const text = 'a,b\n1,"Paris, ""centre"""\n2,"two\nlines"\n3,x\n';
    expect(splitCsv(text)).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["1", 'Paris, "centre"'] },
      { line: 3, fields: ["2", "two\nlines"] },
      { line: 5, fields: ["3", "x"] },
    ]);
  });

  it("keeps empty fields and an empty quoted field", () => {
    expect(splitCsv('a,,""\n')).toEqual([{ line: 1, fields: ["a", "", ""] }]);
  });

  it("handles a quoted last field at the end of the text, with and without CRLF", () => {
    expect(splitCsv('1,"x"')).toEqual([{ line: 1, fields: ["1", "x"] }]);
    expect(splitCsv('1,"x"\r\n2,y')).toEqual([
      { line: 1, fields: ["1", "x"] },
      { line: 2, fields: ["2", "y"] },
    ]);
  });

  it.each([
    ['1,"never closed\n2,x\n', 1, 2, /never closed/],
    ['1,ab"c\n', 1, 2, /quote inside an unquoted field/],
    ['1,"a"b\n', 1, 2, /text after a closing quote/],
  ])("refuses %j at line %i, column %i", (text, line, column, message) => {
    expect(() => splitCsv(text)).toThrow(message);
    try {
      splitCsv(text);
    } catch (err) {
      expect(err).toMatchObject({ line, column });
    }
  });
});
