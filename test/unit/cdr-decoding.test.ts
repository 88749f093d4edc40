/** invalid_cdr: every field checked, and the message names the field at fault. */
import { describe, expect, it } from "vitest";
import { decodeCdrJson, validateCdr } from "../../src/core/cdr.js";
import { baseCdr } from "../support/decks.js";

function problem(overrides: Record<string, unknown>): { message: string; cdrId: string | null } {
  const result = validateCdr({ ...baseCdr, ...overrides });
  if (result.ok) throw new Error("expected invalid_cdr");
  expect(result.error.code).toBe("invalid_cdr");
  return result.error;
}

describe("CDR decoding", () => {
  it("accepts the SPEC example and computes the instant", () => {
    const result = decodeCdrJson(
      '{"cdr_id":"c-000123","account_id":"acme","direction":"outbound","from":"+14155550100","to":"+442071234567","answered_at":"2026-11-27T10:00:00Z","duration_seconds":125,"surcharges":[{"feature":"recording","seconds":125}]}',
    );
    expect(result.ok && result.cdr).toMatchObject({
      cdr_id: "c-000123",
      surcharges: [{ feature: "recording", seconds: 125 }],
      answeredAtMicros: Date.UTC(2026, 10, 27, 10) * 1000,
    });
  });

  it.each([
    ["2026-11-27T10:00:00Z", Date.UTC(2026, 10, 27, 10) * 1000],
    ["2026-11-27T11:00:00+01:00", Date.UTC(2026, 10, 27, 10) * 1000],
    ["2026-11-27T05:30:00-0430", Date.UTC(2026, 10, 27, 10) * 1000],
    ["2026-11-27T12:00:00+02", Date.UTC(2026, 10, 27, 10) * 1000],
    ["2026-11-27T10:00:00.123456789Z", Date.UTC(2026, 10, 27, 10) * 1000 + 123_456],
    ["2026-11-27t10:00:00z", Date.UTC(2026, 10, 27, 10) * 1000],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29) * 1000],
  ])("reads answered_at %s as the instant it names", (answered_at, micros) => {
    const result = validateCdr({ ...baseCdr, answered_at });
    expect(result.ok && result.cdr.answeredAtMicros).toBe(micros);
  });

  it("ignores unknown extra fields and accepts a missing surcharges list", () => {
    const result = validateCdr({ ...baseCdr, trunk: "t1" });
    expect(result.ok && result.cdr.surcharges).toEqual([]);
  });

  it.each([
    ["not JSON", "{", "line is not JSON"],
    ["an array", "[1]", "the record must be a JSON object, got an array"],
    ["null", "null", "the record must be a JSON object, got null"],
    ["a string", '"x"', 'the record must be a JSON object, got "x"'],
    ["empty", "", "line is not JSON"],
  ])("refuses a line that is %s", (_case, text, message) => {
    expect(decodeCdrJson(text)).toEqual({ ok: false, error: { code: "invalid_cdr", message, cdrId: null } });
  });

  it.each([
    ["cdr_id", { cdr_id: "" }],
    ["cdr_id", { cdr_id: "x".repeat(129) }],
    ["cdr_id", { cdr_id: 123 }],
    ["cdr_id", { cdr_id: undefined }],
  ])("names %s when it is wrong (%j), with no cdr_id to echo", (field, overrides) => {
    const error = problem(overrides);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.cdrId).toBeNull();
  });

  it("accepts a cdr_id of exactly 128 characters, counted as characters not bytes", () => {
    expect(validateCdr({ ...baseCdr, cdr_id: "é".repeat(128) }).ok).toBe(true);
  });

  it.each([
    ["account_id", { account_id: "" }],
    ["account_id", { account_id: "a".repeat(65) }],
    ["account_id", { account_id: "acme corp" }],
    ["account_id", { account_id: "{acme}" }],
    ["direction", { direction: "sideways" }],
    ["direction", { direction: "OUTBOUND" }],
    ["direction", { direction: undefined }],
    ["from", { from: "14155550100" }],
    ["from", { from: "+1234567890123456" }],
    ["to", { to: "+" }],
    ["to", { to: "+44 20 7123" }],
    ["to", { to: 442071234567 }],
    ["answered_at", { answered_at: "2026-11-27T10:00:00" }],
    ["answered_at", { answered_at: "2026-11-27" }],
    ["answered_at", { answered_at: "2026-02-30T10:00:00Z" }],
    ["answered_at", { answered_at: "2026-11-27T24:00:00Z" }],
    ["answered_at", { answered_at: "2026-11-27T10:00:00+25:00" }],
    ["answered_at", { answered_at: "yesterday" }],
    ["answered_at", { answered_at: 1764237600 }],
    ["duration_seconds", { duration_seconds: -1 }],
    ["duration_seconds", { duration_seconds: 86_401 }],
    ["duration_seconds", { duration_seconds: 1.5 }],
    ["duration_seconds", { duration_seconds: "125" }],
    ["duration_seconds", { duration_seconds: null }],
    ["surcharges", { surcharges: { recording: 1 } }],
    ["surcharges", { surcharges: null }],
    ["surcharges[0]", { surcharges: ["recording"] }],
    ["surcharges[0].feature", { surcharges: [{ feature: "Recording", seconds: 1 }] }],
    ["surcharges[0].feature", { surcharges: [{ feature: "a".repeat(33), seconds: 1 }] }],
    ["surcharges[0].seconds", { surcharges: [{ feature: "recording", seconds: -1 }] }],
    ["surcharges[0].seconds", { surcharges: [{ feature: "recording", seconds: "10" }] }],
    [
      "surcharges[1].feature",
      {
        surcharges: [
          { feature: "recording", seconds: 1 },
          { feature: "recording", seconds: 2 },
        ],
      },
    ],
  ])("names %s when it is wrong (%j) and echoes the cdr_id", (field, overrides) => {
    const error = problem(overrides);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.cdrId).toBe("c-1");
  });

  it.each([0, 86_400])("accepts duration_seconds %i", (duration_seconds) => {
    expect(validateCdr({ ...baseCdr, duration_seconds }).ok).toBe(true);
  });

  it("says a zone-less timestamp needs a zone", () => {
    expect(problem({ answered_at: "2026-11-27T10:00:00" }).message).toBe(
      'answered_at: "2026-11-27T10:00:00" has no zone: add Z or an offset',
    );
  });
});
