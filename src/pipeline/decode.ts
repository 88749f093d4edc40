/**
 * Step 1 of a CDR's flow: bytes from Kafka to a validated CDR. JSON and
 * Confluent-framed Avro share the topic and are told apart by the first byte.
 */
import { RecordRefusedError } from "../errors.js";
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
      // The record's fault is dead-lettered; the registry's failure is retried (rethrown).
      if (err instanceof RecordRefusedError) return { ok: false, code: "decode_error", message: err.message };
      throw err;
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
