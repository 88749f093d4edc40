/**
 * Each adapter's one function that reads its client's raw errors, and their composition
 * (`adapters/errors.ts`): which error is which server's outage (retry), a record's fault
 * (dead-letter / refuse), a sequence conflict, or unknown (loud). Real client error
 * classes where the clients export them; the clients' own connection failures against a
 * closed port (no server needed).
 */
import { KafkaJSConnectionError, KafkaJSProtocolError } from "kafkajs";
import { Redis, ReplyError } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { typedError } from "../../src/adapters/errors.js";
import { kafkaError } from "../../src/adapters/kafka/errors.js";
import { postgresError } from "../../src/adapters/postgres/errors.js";
import { redisError } from "../../src/adapters/redis/errors.js";
import { decodeError, registryError } from "../../src/adapters/registry/avro.js";
import {
  DependencyError,
  NotMigratedError,
  RatestreamError,
  RecordRefusedError,
  SequenceConflictError,
} from "../../src/errors.js";

const pgError = (code: string, message = "boom", extra: Record<string, unknown> = {}) =>
  Object.assign(new pg.DatabaseError(message, 0, "error"), { code, ...extra });

const socketError = (code: string) =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, syscall: "connect" });

/** ioredis's ReplyError (redis-errors), typed `any` by ioredis. */
const reply = (message: string) => new (ReplyError as unknown as new (message: string) => Error)(message);

const responseError = (status: number) =>
  Object.assign(new Error(`Schema registry answered ${status}`), { name: "ResponseError", status });

function expectDependency(err: unknown, dependency: string): void {
  expect(err).toBeInstanceOf(DependencyError);
  expect((err as DependencyError).dependency).toBe(dependency);
  expect((err as DependencyError).retryable).toBe(true);
}

describe("postgresError", () => {
  it.each([
    ["57P01", "terminating connection due to administrator command"],
    ["57P03", "the database system is starting up"],
    ["08006", "connection failure"],
    ["53300", "too many connections"],
    ["3D000", "database does not exist"],
    ["28P01", "password authentication failed"],
    ["40001", "could not serialize access"],
    ["40P01", "deadlock detected"],
    ["25P03", "idle-in-transaction timeout"],
  ])("SQLSTATE %s (%s) is Postgres away: retry", (code, message) => {
    expectDependency(postgresError(pgError(code, message)), "postgres");
  });

  it.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND"])(
    "a socket's %s is Postgres away",
    (code) => expectDependency(postgresError(socketError(code)), "postgres"),
  );

  it("node-postgres's own connection messages (no code) are Postgres away", () => {
    expectDependency(postgresError(new Error("Connection terminated unexpectedly")), "postgres");
    expectDependency(postgresError(new Error("timeout exceeded when trying to connect")), "postgres");
  });

  it("a real refused connection (a closed port) is Postgres away", async () => {
    const client = new pg.Client({ host: "127.0.0.1", port: 1, connectionTimeoutMillis: 2_000 });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expectDependency(postgresError(err), "postgres");
  });

  it.each([
    ["23505", "unique_violation"],
    ["23514", "check_violation"],
    ["22003", "numeric_value_out_of_range"],
    ["22P02", "invalid_text_representation"],
  ])("SQLSTATE %s (%s) is the record's fault, naming the constraint", (code, message) => {
    const err = postgresError(pgError(code, message, { constraint: "some_check" }));
    expect(err).toBeInstanceOf(RecordRefusedError);
    expect(err!.retryable).toBe(false);
    expect(err!.message).toContain("some_check");
  });

  it("an undefined table is a database not migrated (not retried)", () => {
    const err = postgresError(pgError("42P01", 'relation "accounts" does not exist'));
    expect(err).toBeInstanceOf(NotMigratedError);
    expect(err!.retryable).toBe(false);
    expect(err!.message).toContain("ratestream migrate");
  });

  it("a syntax error, a plain Error or a TypeError is not Postgres's: undefined (loud)", () => {
    expect(postgresError(pgError("42601", "syntax error"))).toBeUndefined();
    expect(postgresError(new Error("something else"))).toBeUndefined();
    expect(postgresError(new TypeError("x is undefined"))).toBeUndefined();
    expect(postgresError(undefined)).toBeUndefined();
  });
});

describe("redisError", () => {
  it("a command on a Redis that cannot be reached (a closed port) is Redis away", async () => {
    const redis = new Redis({
      host: "127.0.0.1",
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on("error", () => undefined);
    const err = await redis.get("k").then(
      () => undefined,
      (e: unknown) => e,
    );
    redis.disconnect();
    expectDependency(redisError(err), "redis");
  });

  it.each([
    "LOADING Redis is loading the dataset in memory",
    "READONLY You can't write against a read only replica.",
    "BUSY Redis is busy running a script",
    "OOM command not allowed when used memory > 'maxmemory'.",
    "CLUSTERDOWN The cluster is down",
  ])("the reply %s is Redis away", (message) => {
    expectDependency(redisError(reply(message)), "redis");
  });

  it("ioredis's connection errors are Redis away", () => {
    const maxRetries = Object.assign(new Error("Reached the max retries per request limit"), {
      name: "MaxRetriesPerRequestError",
    });
    expectDependency(redisError(maxRetries), "redis");
    expectDependency(redisError(new Error("Connection is closed.")), "redis");
  });

  it("a script's own error and a wrong-type reply are not outages: undefined (loud)", () => {
    expect(redisError(reply("ERR user_script:12: Script attempted to access a key"))).toBeUndefined();
    expect(redisError(reply("WRONGTYPE Operation against a key holding the wrong kind"))).toBeUndefined();
    expect(redisError(new Error('apply result "x": expected …'))).toBeUndefined();
  });
});

describe("kafkaError", () => {
  it("the Kafka clients' errors are Kafka's", () => {
    expectDependency(kafkaError(new KafkaJSConnectionError("Connection error: ECONNREFUSED")), "kafka");
    expectDependency(
      kafkaError(new KafkaJSProtocolError("This server is not the leader for that topic-partition")),
      "kafka",
    );
  });

  it("anything else is not Kafka's: undefined", () => {
    expect(kafkaError(socketError("ECONNREFUSED"))).toBeUndefined();
    expect(kafkaError(new Error("KafkaJS in the message is not enough"))).toBeUndefined();
  });
});

describe("registryError and decodeError (a frame that does not decode)", () => {
  it("a registry answer other than 404 is the registry's failure: retry", () => {
    expectDependency(registryError(responseError(500)), "registry");
    expectDependency(decodeError(responseError(503)), "registry");
  });

  it("a 404 (no such schema) or a body avsc refuses is the record's fault", () => {
    expect(registryError(responseError(404))).toBeUndefined();
    expect(decodeError(responseError(404))).toBeInstanceOf(RecordRefusedError);
    const truncated = decodeError(new Error("truncated buffer"));
    expect(truncated).toBeInstanceOf(RecordRefusedError);
    expect(truncated.message).toBe("Avro: truncated buffer");
  });
});

describe("typedError: the composition the rater, workers, API and CLI call", () => {
  it("each client's error lands on its own dependency", () => {
    expectDependency(typedError(new KafkaJSConnectionError("down")), "kafka");
    expectDependency(typedError(new Error("Connection is closed.")), "redis");
    expectDependency(typedError(responseError(502)), "registry");
    expectDependency(typedError(pgError("57P01")), "postgres");
    // Node's socket codes surface raw only from pg (ioredis and kafkajs wrap theirs).
    expectDependency(typedError(socketError("ECONNREFUSED")), "postgres");
  });

  it("ratestream's own errors pass as they are", () => {
    const conflict = new SequenceConflictError("acct-1");
    expect(typedError(conflict)).toBe(conflict);
    const usage = new RatestreamError("bad_usage", "no");
    expect(typedError(usage)).toBe(usage);
  });

  it("a bug or an unknown error is returned unchanged: the caller stops loudly", () => {
    const bug = new TypeError("cannot read properties of undefined");
    expect(typedError(bug)).toBe(bug);
    const unknown = new Error("something nobody classified");
    expect(typedError(unknown)).toBe(unknown);
  });
});
