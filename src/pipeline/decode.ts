/**
 * Step 1 of a CDR's flow: bytes from Kafka to a validated CDR. JSON and
 * Confluent-framed Avro share the topic and are told apart by the first byte.
 */
import { RatestreamError } from "../errors.js";
import { validateCdr, decodeCdrJson, type Cdr } from "../core/cdr.js";
import { isConfluentFramed, type AvroRegistry } from "../adapters/registry/avro.js";

export type Decoded =
  { ok: true; cdr: Cdr } | { ok: false; code: "invalid_cdr" | "decode_error"; message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function decodeRecord(value: Buffer | null, registry: AvroRegistry): Promise<Decoded> {
  if (value === null || value.length === 0)
    return { ok: false, code: "decode_error", message: "empty record" };
  if (isConfluentFramed(value)) {
    let decoded: unknown;
    try {
      decoded = await registry.decode(value);
    } catch (err) {
      const e = err as { name?: string; status?: number; message?: string };
      // The registry answered "no such schema", or the Avro body is broken: the record's fault.
      // Any other registry failure is the registry's: retry, never dead-letter.
      if (e.name === "ResponseError" && e.status !== 404) {
        throw new RatestreamError("dependency_unavailable", `schema registry: ${e.message}`, { cause: err });
      }
      return { ok: false, code: "decode_error", message: `Avro: ${e.message ?? String(err)}` };
    }
    const result = validateCdr(decoded);
    return result.ok ? result : { ok: false, code: "invalid_cdr", message: result.error.message };
  }
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { ok: false, code: "decode_error", message: "not UTF-8 and not a Confluent Avro frame" };
  }
  const first = text.trimStart()[0];
  if (first !== "{") {
    return {
      ok: false,
      code: "decode_error",
      message: "neither a JSON object nor a Confluent Avro frame (magic byte 0)",
    };
  }
  const result = decodeCdrJson(text);
  return result.ok ? result : { ok: false, code: "invalid_cdr", message: result.error.message };
}
