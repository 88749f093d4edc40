/**
 * A real `ratestream run` fed a few hundred hostile records (fast-check, fixed seed)
 * interleaved with good CDRs: random bytes, Avro frames with unknown schema ids,
 * truncated frames of a registered schema, deep nesting, huge strings, invalid UTF-8,
 * wrong types. The rater stays up; every bad record is dead-lettered with its reason;
 * every good one is debited exactly and none is dead-lettered.
 */
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createAvroRegistry, SCHEMA_FILES } from "../../src/adapters/registry/avro.js";
import { eventually, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { config, Scope } from "../support/services.js";
import { streamRig, type StreamRig } from "../support/stream.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_127);

function rater(s: StreamRig): RaterProcess {
  const process = startRater({ databaseUrl: s.rig.databaseUrl, topicPrefix: s.topicPrefix, group: s.group });
  scope.defer(() => process.stop("SIGKILL"));
  return process;
}

type Bad = { code: "decode_error" | "invalid_cdr"; kind: string; value: Buffer };

const bytes = (b: Uint8Array) => Buffer.from(b);
const frame = (id: number, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, body]);
};

/** The hostile records, each with the reason it must be dead-lettered for. */
async function hostileRecords(s: StreamRig): Promise<Bad[]> {
  const registry = createAvroRegistry(config.schemaRegistryUrl);
  const schemaId = await registry.registerFile(scope.registrySubject("hostile"), SCHEMA_FILES.cdr);
  const template = s.cdrs(1, 99)[0]!;
  const avroCdr = await registry.encode(schemaId, { surcharges: [], ...template, cdr_id: "truncated" });
  const json = Buffer.from(JSON.stringify({ ...template, cdr_id: "utf8" }));
  const sample = <T>(arb: fc.Arbitrary<T>, n: number) => fc.sample(arb, { numRuns: n, seed: SEED });
  const bad: Bad[] = [];
  const add = (code: Bad["code"], kind: string, values: Buffer[]) =>
    bad.push(...values.map((value) => ({ code, kind, value })));

  // Not JSON (first byte neither "{", whitespace nor the Avro magic 0), not a frame.
  add(
    "decode_error",
    "random bytes",
    sample(
      fc.tuple(
        fc.integer({ min: 0x21, max: 0xff }).filter((b) => b !== 0x7b),
        fc.uint8Array({ maxLength: 300 }),
      ),
      80,
    ).map(([first, rest]) => Buffer.concat([Buffer.from([first]), bytes(rest)])),
  );
  // Schema ids the registry never gave (ids count up from 1; these are far above).
  add(
    "decode_error",
    "unknown schema id",
    sample(
      fc.tuple(fc.integer({ min: 1_000_000_000, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 60 })),
      40,
    ).map(([id, body]) => frame(id, bytes(body))),
  );
  add(
    "decode_error",
    "truncated frame",
    sample(fc.integer({ min: 5, max: avroCdr.length - 1 }), 40).map((n) => avroCdr.subarray(0, n)),
  );
  add(
    "decode_error",
    "invalid UTF-8",
    sample(
      fc.tuple(
        fc.integer({ min: 1, max: json.length - 1 }),
        fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80]),
      ),
      30,
    ).map(([at, b]) => Buffer.concat([json.subarray(0, at), Buffer.from(b), json.subarray(at)])),
  );
  add(
    "invalid_cdr",
    "deep nesting",
    sample(fc.integer({ min: 1_000, max: 100_000 }), 20).map((depth) =>
      Buffer.from(`{"cdr_id":"deep","surcharges":${"[".repeat(depth)}${"]".repeat(depth)}}`),
    ),
  );
  add(
    "invalid_cdr",
    "huge string",
    // One at a time below Kafka's 1 MB record limit, in the fields whose messages quote a bounded excerpt.
    sample(
      fc.tuple(
        fc.constantFrom("cdr_id", "account_id", "to", "direction"),
        fc.integer({ min: 10_000, max: 200_000 }),
      ),
      8,
    ).map(([field, size]) => Buffer.from(JSON.stringify({ ...template, [field]: "7".repeat(size) }))),
  );
  add(
    "invalid_cdr",
    "wrong type",
    sample(
      fc.tuple(
        fc.constantFrom(
          "cdr_id",
          "account_id",
          "direction",
          "from",
          "to",
          "answered_at",
          "duration_seconds",
          "surcharges",
        ),
        fc.oneof(fc.constant(null), fc.boolean(), fc.double(), fc.object({ maxDepth: 2 }), fc.constant(-1)),
      ),
      60,
    ).map(([field, value]) =>
      Buffer.from(JSON.stringify({ ...template, cdr_id: `wrong-${field}`, [field]: value })),
    ),
  );
  return bad;
}

function deadLetterHeaders(s: StreamRig): string[] {
  return execFileSync(
    "kcat",
    ["-C", "-b", config.kafkaBrokers.join(","), "-t", s.topics.deadLetters, "-e", "-q", "-f", "%h\n"],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  )
    .split("\n")
    .filter((line) => line.startsWith("x-error-code="));
}

describe("ratestream run under hostile records", () => {
  it("stays up, dead-letters every bad record with its reason, debits every good one exactly", async () => {
    const s = await streamRig(scope);
    const good = s.cdrs(400, 7);
    const bad = await hostileRecords(s);
    expect(bad.length).toBeGreaterThanOrEqual(250);

    // Interleaved: good and bad records share batches and partitions (keyed by account).
    const order = fc.sample(
      fc.shuffledSubarray([...good.keys(), ...bad.map((_, i) => -1 - i)], {
        minLength: good.length + bad.length,
      }),
      { numRuns: 1, seed: SEED },
    )[0]!;
    const r = rater(s);
    await waitReady(r);
    let exited = false;
    void r.exited.then(() => (exited = true));
    for (let i = 0; i < order.length; i += 50) {
      const messages = order.slice(i, i + 50).map((k) => {
        if (k >= 0) return { key: good[k]!.account_id, value: JSON.stringify(good[k]) };
        return { key: s.accounts[(-1 - k) % s.accounts.length]!, value: bad[-1 - k]!.value };
      });
      // Large records one per request, so no produce request passes the broker's limit.
      for (const m of messages) if (m.value.length > 100_000) await s.producer.send(s.topics.cdrs, [m]);
      await s.producer.send(
        s.topics.cdrs,
        messages.filter((m) => m.value.length <= 100_000),
      );
    }

    await eventually(() => s.caughtUp(), 90_000, "the rater to commit every record");
    expect(exited, `the rater exited:\n${r.output()}`).toBe(false);

    // Every good CDR debited once, exactly as the deck prices it.
    expect(await s.callEntries()).toBe(good.length);
    const expected = s.expectedBalances(good);
    for (const account of s.accounts)
      expect(await s.rig.ledgerBalance(account), account).toBe(expected.get(account));

    // Every bad record, and only those, in the dead-letter topic with its reason.
    const headers = deadLetterHeaders(s);
    expect(headers).toHaveLength(bad.length);
    const codes = headers.map((h) => /x-error-code=([a-z_]+)/.exec(h)?.[1]);
    expect(codes.sort()).toEqual(bad.map((b) => b.code).sort());
    for (const h of headers) expect(h).toMatch(/x-error-message=[^,]+/);

    const res = await fetch(`http://127.0.0.1:${r.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await r.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  }, 180_000);
});
