/** Confluent-framed Avro through the real schema registry (Apicurio, Confluent API). */
import { afterEach, describe, expect, it } from "vitest";
import { createAvroRegistry, isConfluentFramed, SCHEMA_FILES } from "../../src/adapters/registry/avro.js";
import { baseCdr } from "../support/decks.js";
import { config, Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const cdr = { ...baseCdr, surcharges: [{ feature: "recording", seconds: 125 }] };

describe("Avro through the schema registry", () => {
  it("registers the CDR schema and round-trips a CDR in a Confluent frame", async () => {
    const registry = createAvroRegistry(config.schemaRegistryUrl);
    const subject = scope.registrySubject("cdrs");
    const id = await registry.registerFile(subject, SCHEMA_FILES.cdr);

    const framed = await registry.encode(id, cdr);
    expect(isConfluentFramed(framed)).toBe(true);
    expect(framed.readUInt32BE(1)).toBe(id);

    // A second client with an empty cache must fetch the writer's schema by id.
    const decoded = await createAvroRegistry(config.schemaRegistryUrl).decode(framed);
    expect(decoded).toEqual(cdr);
  });

  it("registers the balance-event schema; a reader maps an unknown type to the enum default", async () => {
    const registry = createAvroRegistry(config.schemaRegistryUrl);
    const subject = scope.registrySubject("balance-events");
    const id = await registry.registerFile(subject, SCHEMA_FILES.balanceEvent);
    const event = {
      event_id: "ev-1",
      type: "low_balance",
      account_id: "acme",
      balance_micros: 4_990_000,
      currency: "USD",
      amount_micros: null,
      occurred_at: "2026-11-27T10:02:05Z",
      cause: "c-000123",
    };
    // `reason` came later, with a default: events written without it read as null.
    expect(await registry.decode(await registry.encode(id, event))).toEqual({ ...event, reason: null });
    const failed = { ...event, type: "recharge_failed", reason: "card declined (generic_decline)" };
    expect(await registry.decode(await registry.encode(id, failed))).toEqual(failed);
  });

  it("refuses to encode a CDR that does not match the schema", async () => {
    const registry = createAvroRegistry(config.schemaRegistryUrl);
    const id = await registry.registerFile(scope.registrySubject("cdrs"), SCHEMA_FILES.cdr);
    await expect(registry.encode(id, { ...cdr, duration_seconds: "125" })).rejects.toThrow(
      /duration_seconds/,
    );
  });
});
