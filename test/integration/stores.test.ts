/** Round trips through the real Redis and Postgres, isolated per test. */
import { afterEach, describe, expect, it } from "vitest";
import { Scope } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

describe("Redis", () => {
  it("stores and reads back under the test's own key prefix, hash tags intact", async () => {
    const redis = scope.redis();
    await redis.set("{acme}:balance", "12340000");
    expect(await redis.get("{acme}:balance")).toBe("12340000");
    expect(await redis.incrby("{acme}:balance", -340000)).toBe(12_000_000);
  });

  it("runs a Lua script atomically on the server", async () => {
    const redis = scope.redis();
    await redis.set("{acme}:balance", "5000000");
    const script = "local v = redis.call('DECRBY', KEYS[1], ARGV[1]); return v";
    expect(await redis.eval(script, 1, "{acme}:balance", "1250000")).toBe(3_750_000);
  });
});

describe("Postgres", () => {
  it("writes and reads a row in the test's own schema, with bigint money intact", async () => {
    const { pool, schema } = await scope.postgres();
    await pool.query("create table probe (account_id text primary key, balance_micros bigint not null)");
    // Above 2^53: bigint must not pass through a float.
    await pool.query("insert into probe values ($1, $2)", ["acme", "9007199254740993"]);
    const { rows } = await pool.query<{ balance_micros: string; schema: string }>(
      "select balance_micros, current_schema() as schema from probe where account_id = $1",
      ["acme"],
    );
    expect(rows).toEqual([{ balance_micros: "9007199254740993", schema }]);
  });
});
