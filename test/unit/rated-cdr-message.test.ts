import { describe, expect, it } from "vitest";
import { decodeCdrJson } from "../../src/core/cdr.js";
import { ratedCdrMessage } from "../../src/pipeline/messages.js";
import { baseCdr } from "../support/decks.js";

describe("rated-cdrs message", () => {
  it("is the CDR's wire fields plus how it was rated, nothing internal", () => {
    const wire = { ...baseCdr, surcharges: [{ feature: "recording", seconds: 125 }] };
    const decoded = decodeCdrJson(JSON.stringify(wire));
    if (!decoded.ok) throw new Error(decoded.error.message);
    const rating = {
      charge_micros: 1_234_567,
      billed_seconds: 126,
      prefix: "4420",
      plan: "gold",
      rate_version: 3,
      rate_effective_from: "2026-01-01T00:00:00Z",
    };
    const message = ratedCdrMessage(decoded.cdr, rating);
    expect(message.key).toBe("acme");
    expect(JSON.parse(message.value as string)).toEqual({ ...wire, ...rating });
  });
});
