/**
 * Confluent-framed Avro (magic byte 0, 4-byte schema id, Avro body) through a schema
 * registry that speaks the Confluent API (Apicurio's /apis/ccompat/v7 here).
 */
import { readFile } from "node:fs/promises";
import { SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";

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
  /** Decodes a Confluent frame, fetching (and caching) the writer's schema by id. */
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
    decode: (bytes) => registry.decode(bytes) as Promise<unknown>,
  };
}
