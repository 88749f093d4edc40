/** `ratestream rate` on the sample decks, through the real binary (SPEC §3 "Offline rating command"). */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ratestream } from "../support/cli.js";

const DECKS = ["--rates", "rates/rates.csv", "--surcharges", "rates/surcharges.csv"];

// Worked by hand from rates/*.csv (see each comment); other programs compare their bills with these.
const EXPECTED = [
  // 4420 London 0.012/min 60/60: 125 s → 180 s = 0.036; recording 125 s → 3 min × 0.0025 = 0.0075
  '{"line":1,"cdr_id":"c-000001","account_id":"acme","charge_micros":43500,"billed_seconds":180,"prefix":"4420","rate_effective_from":"2026-01-01T00:00:00Z"}',
  // prefix 1 at 0.0095 since 2026-11-15, 6/6: 61 s → 66 s = 0.01045
  '{"line":2,"cdr_id":"c-000002","account_id":"acme","charge_micros":10450,"billed_seconds":66,"prefix":"1","rate_effective_from":"2026-11-15T00:00:00Z"}',
  // 447 UK mobile one second before the 2026-12-01 change: 0.045
  '{"line":3,"cdr_id":"c-000003","account_id":"acme","charge_micros":45000,"billed_seconds":60,"prefix":"447","rate_effective_from":"2026-01-01T00:00:00Z"}',
  // … and at the instant it takes effect: 0.039
  '{"line":4,"cdr_id":"c-000004","account_id":"acme","charge_micros":39000,"billed_seconds":60,"prefix":"447","rate_effective_from":"2026-12-01T00:00:00Z"}',
  // inbound toll-free 0.022 6/6: 7 s → 12 s = 0.0044; sip_phone 1 min 0.001; conference 200 s → 4 min × 0.003
  '{"line":5,"cdr_id":"c-000005","account_id":"globex","charge_micros":17400,"billed_seconds":12,"prefix":"1800","rate_effective_from":"2026-01-01T00:00:00Z"}',
  // 55119 São Paulo mobile 0.08 + fee 0.0125, 30/6: 31 s → 36 s = 0.048 + 0.0125
  '{"line":6,"cdr_id":"c-000006","account_id":"globex","charge_micros":60500,"billed_seconds":36,"prefix":"55119","rate_effective_from":"2026-01-01T00:00:00Z"}',
  '{"line":7,"cdr_id":"c-000007","error":{"code":"no_rate","message":"no outbound rate for 99912345"}}',
  // 0 s: charge 0, surcharges ignored
  '{"line":8,"cdr_id":"c-000008","account_id":"globex","charge_micros":0,"billed_seconds":0,"prefix":"4915","rate_effective_from":"2026-01-01T00:00:00Z"}',
  '{"line":9,"cdr_id":"c-000009","error":{"code":"no_rate","message":"no rate for surcharge \\"whisper\\" at 2026-11-27T09:00:00Z"}}',
  '{"line":10,"cdr_id":null,"error":{"code":"invalid_cdr","message":"line is not JSON"}}',
  '{"line":11,"cdr_id":"c-000011","error":{"code":"invalid_cdr","message":"direction: must be \\"outbound\\" or \\"inbound\\", got \\"sideways\\""}}',
  // 614 AU mobile 0.06 + fee 0.01, 60/1: 3600 s = 3.60; recording 60 min × 0.0025 = 0.15; barging 2 min × 0.005
  '{"line":12,"cdr_id":"c-000012","account_id":"initech","charge_micros":3770000,"billed_seconds":3600,"prefix":"614","rate_effective_from":"2026-01-01T00:00:00Z"}',
];

describe("ratestream rate", () => {
  it("rates the sample CDRs against the sample decks, one line per input line, in order", async () => {
    const result = await ratestream(["rate", ...DECKS, "--input", "rates/sample-cdrs.jsonl"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")).toEqual([...EXPECTED, ""]);
  });

  it("reads standard input by default and accepts CRLF line ends", async () => {
    const input = (await readFile("rates/sample-cdrs.jsonl", "utf8")).replace(/\n/g, "\r\n");
    const result = await ratestream(["rate", ...DECKS], { stdin: input });
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")).toEqual([...EXPECTED, ""]);
  });

  it("without a surcharge deck, a CDR with surcharges is no_rate", async () => {
    const result = await ratestream([
      "rate",
      "--rates",
      "rates/rates.csv",
      "--input",
      "rates/sample-cdrs.jsonl",
    ]);
    expect(result.stdout.split("\n")[0]).toBe(
      '{"line":1,"cdr_id":"c-000001","error":{"code":"no_rate","message":"no rate for surcharge \\"recording\\" at 2026-11-27T10:00:00Z"}}',
    );
  });

  it("refuses a bad deck with exit 2, naming file, line and column, and rates nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ratestream-"));
    const deck = join(dir, "bad.csv");
    const good = await readFile("rates/rates.csv", "utf8");
    await writeFile(
      deck,
      good.replace(
        '4420,"United Kingdom, London",outbound,0.012000',
        '4420,"United Kingdom, London",outbound,0.0120001',
      ),
    );
    const result = await ratestream(["rate", "--rates", deck, "--input", "rates/sample-cdrs.jsonl"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(
      `${deck}:14:4: rate_per_minute: "0.0120001" has more than 6 decimal places`,
    );
  });

  it.each([
    ["no --rates", ["rate", "--input", "rates/sample-cdrs.jsonl"], /--rates/],
    ["a missing deck file", ["rate", "--rates", "nope.csv"], /cannot read deck nope\.csv/],
    ["a missing input file", ["rate", ...DECKS, "--input", "nope.jsonl"], /cannot read input nope\.jsonl/],
    ["an unknown option", ["rate", ...DECKS, "--fast"], /unknown option '--fast'/],
  ])("exits 2 with a message for %s", async (_case, args, message) => {
    const result = await ratestream(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it("prints help with exit 0", async () => {
    const result = await ratestream(["rate", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("--surcharges <csv>");
  });
});
