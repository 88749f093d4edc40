/**
 * `ratestream rate`: JSON lines in, one JSON line out per input line, in order, each
 * with its 1-based line number. Streams with bounded memory: output is flushed in
 * chunks and waits for the consumer when it is slower (backpressure).
 */
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { decodeCdrJson } from "../core/cdr.js";
import { rateCdr } from "../core/rating/rate.js";
import type { RateTable } from "../core/rating/rate-table.js";
import { formatInstant } from "../core/time.js";

export interface RateStreamSummary {
  lines: number;
  rated: number;
  errors: Record<string, number>;
}

const FLUSH_BYTES = 64 * 1024;

/** One output line (without the newline) for one input line. */
export function rateLine(
  table: RateTable,
  lineNumber: number,
  text: string,
): { json: string; errorCode?: string } {
  const decoded = decodeCdrJson(text);
  if (!decoded.ok) {
    const { cdrId, code, message } = decoded.error;
    return { json: errorJson(lineNumber, cdrId, code, message), errorCode: code };
  }
  const cdr = decoded.cdr;
  const outcome = rateCdr(table, cdr);
  if (!outcome.ok) {
    return {
      json: errorJson(lineNumber, cdr.cdr_id, outcome.code, outcome.message),
      errorCode: outcome.code,
    };
  }
  const { rate } = outcome;
  // account_id and prefix are validated to need no escaping; cdr_id may.
  return {
    json:
      `{"line":${lineNumber},"cdr_id":${JSON.stringify(cdr.cdr_id)},"account_id":"${cdr.account_id}",` +
      `"charge_micros":${outcome.chargeMicros},"billed_seconds":${outcome.billedSeconds},` +
      `"prefix":"${rate.prefix}","rate_effective_from":"${formatInstant(rate.effectiveFromMicros)}"}`,
  };
}

function errorJson(line: number, cdrId: string | null, code: string, message: string): string {
  return JSON.stringify({ line, cdr_id: cdrId, error: { code, message } });
}

export async function rateStream(
  table: RateTable,
  input: Readable,
  output: Writable,
): Promise<RateStreamSummary> {
  const summary: RateStreamSummary = { lines: 0, rated: 0, errors: {} };
  const lines = createInterface({ input, crlfDelay: Infinity });
  let pending = "";
  const flush = async () => {
    if (pending.length === 0) return;
    const ok = output.write(pending);
    pending = "";
    if (!ok) await once(output, "drain");
  };
  for await (const text of lines) {
    summary.lines++;
    const { json, errorCode } = rateLine(table, summary.lines, text);
    if (errorCode === undefined) summary.rated++;
    else summary.errors[errorCode] = (summary.errors[errorCode] ?? 0) + 1;
    pending += json + "\n";
    if (pending.length >= FLUSH_BYTES) await flush();
  }
  await flush();
  return summary;
}
