/**
 * Confluent-framed Avro (magic byte 0, 4-byte schema id, Avro body) through a schema
 * registry that speaks the Confluent API (Apicurio's /apis/ccompat/v7 here).
 */
import { readFile } from "node:fs/promises";
import { SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";
import { DependencyError, RatestreamError, RecordRefusedError } from "../../errors.js";

export const SCHEMA_FILES = {
  cdr: new URL("../../../schemas/cdr.avsc", import.meta.url),
  balanceEvent: new URL("../../../schemas/balance-event.avsc", import.meta.url),
} as const;

/** Subject names under the topic-name strategy: `<topic>-value`. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** True when the bytes start like a Confluent frame; JSON starts with `{` or whitespace. */
export function isConfluentFramed(bytes: Buffer): boolean {
  return bytes.length >= 5 && bytes[0] === 0;
}

export interface AvroRegistry {
  /** Registers (or finds) a schema under a subject and returns its registry id. */
  register(subject: string, schemaJson: string): Promise<number>;
  registerFile(subject: string, file: URL): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  /**
   * Decodes a Confluent frame, fetching (and caching) the writer's schema by id. Throws
   * RecordRefusedError when the frame is at fault (a schema id the registry does not
   * know, a broken body), DependencyError("registry") when the registry failed.
   */
  decode(bytes: Buffer): Promise<unknown>;
}

export function createAvroRegistry(url: string): AvroRegistry {
  const registry = new SchemaRegistry({ host: url, retry: { retries: 3 } });
  const register = async (subject: string, schemaJson: string): Promise<number> => {
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: schemaJson }, { subject });
    return id;
  };
  return {
    register,
    registerFile: async (subject, file) => register(subject, await readFile(file, "utf8")),
    async encode(schemaId, value) {
      try {
        return await registry.encode(schemaId, value);
      } catch (err) {
        // Name the fields at fault, not just the Avro type that refused a value.
        const paths = (err as { paths?: string[][] }).paths;
        if (!paths?.length) throw err;
        const fields = paths.map((p) => p.join(".")).join(", ");
        throw new Error(`value does not match schema ${schemaId}: ${fields}`, { cause: err });
      }
    },
    async decode(bytes) {
      // The frame: magic byte 0, the writer schema's registry id, the Avro body.
      try {
        const type = await registry.getSchema(bytes.readInt32BE(1));
        return decodeAvroBody(type, bytes.subarray(5));
      } catch (err) {
        throw decodeError(err);
      }
    },
  };
}

/**
 * The registry client's errors in ratestream's vocabulary: an HTTP answer other than
 * 404 (no such schema or subject) is the registry failing, a DependencyError.
 */
export function registryError(err: unknown): RatestreamError | undefined {
  if (err instanceof RatestreamError) return err;
  const e = err as { name?: string; status?: number; message?: string } | null;
  if (e?.name !== "ResponseError" || e.status === 404) return undefined;
  return new DependencyError("registry", `schema registry: ${e.message}`, { cause: err });
}

/**
 * Why a frame did not decode: any registry answer but "no such schema" is the registry's
 * failure (retry); everything else (a 404, avsc refusing the body) is the record's fault.
 */
export function decodeError(err: unknown): RatestreamError {
  return (
    registryError(err) ??
    new RecordRefusedError(`Avro: ${(err as Error).message ?? String(err)}`, { cause: err })
  );
}

/**
 * Decodes an Avro body with its writer schema (an avsc Type). avsc trusts an array's or
 * a map's item count and allocates and loops for every claimed item, so 40 bytes
 * claiming 2^31 surcharges would take the rater's memory: the body is first walked
 * once, refusing any count larger than the bytes left (every item takes at least one).
 */
export function decodeAvroBody(type: unknown, body: Buffer): unknown {
  const avro = type as AvroType;
  try {
    checkCounts(avro, { buf: body, pos: 0 });
  } catch (err) {
    if (!(err instanceof Unchecked)) throw err;
  }
  return avro.fromBuffer(body);
}

/** A type the walk does not know (a logical type …): the rest is left to avsc. */
class Unchecked extends Error {}

/** The parts of an avsc Type the walk reads (avsc is the registry client's own dependency). */
interface AvroType {
  typeName: string;
  fromBuffer(buffer: Buffer): unknown;
  itemsType?: AvroType;
  valuesType?: AvroType;
  fields?: { type: AvroType }[];
  types?: AvroType[];
  size?: number;
}

interface Cursor {
  buf: Buffer;
  pos: number;
}

/** A zig-zag varint, as Avro writes int and long; the position moves past it. */
function readLong(c: Cursor): number {
  let n = 0;
  let shift = 1;
  for (;;) {
    if (c.pos >= c.buf.length) throw new Error("truncated buffer");
    const byte = c.buf[c.pos++]!;
    n += (byte & 0x7f) * shift;
    if (byte < 0x80) break;
    shift *= 128;
    if (shift > 2 ** 63) throw new Error("a varint longer than 10 bytes");
  }
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function skipBytes(c: Cursor, length: number): void {
  if (length < 0 || c.pos + length > c.buf.length) throw new Error("truncated buffer");
  c.pos += length;
}

function checkCounts(type: AvroType, c: Cursor): void {
  switch (type.typeName) {
    case "null":
      return;
    case "boolean":
      return skipBytes(c, 1);
    case "int":
    case "long":
    case "enum":
      readLong(c);
      return;
    case "float":
      return skipBytes(c, 4);
    case "double":
      return skipBytes(c, 8);
    case "string":
    case "bytes":
      return skipBytes(c, readLong(c));
    case "fixed":
      return skipBytes(c, type.size ?? 0);
    case "record":
    case "error":
      for (const field of type.fields ?? []) checkCounts(field.type, c);
      return;
    case "union": {
      const branch = type.types?.[readLong(c)];
      if (!branch) throw new Error("invalid union index");
      return checkCounts(branch, c);
    }
    case "array":
    case "map": {
      const items = (type.itemsType ?? type.valuesType)!;
      for (let n = readLong(c); n !== 0; n = readLong(c)) {
        if (n < 0) {
          n = -n;
          readLong(c); // the block's size in bytes
        }
        const left = c.buf.length - c.pos;
        if (n > left && items.typeName !== "null") {
          throw new Error(`an Avro ${type.typeName} claims ${n} items with ${left} bytes left`);
        }
        for (let i = 0; i < n; i++) {
          if (type.typeName === "map") skipBytes(c, readLong(c));
          checkCounts(items, c);
        }
      }
      return;
    }
    default:
      throw new Unchecked(type.typeName);
  }
}
