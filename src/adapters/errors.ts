/**
 * The adapters' boundary for errors that surface raw from deep inside a client (an
 * ioredis command, a kafkajs send, a pg query in a transaction): wrapping every call
 * would be a wrapper per method, so each adapter has one function that knows its
 * client's errors, and this composes them. Called once where an error reaches a place
 * that decides (the rater's and workers' retry loops, the API's error handler, the CLI);
 * those places then read only RatestreamError's `retryable`, DependencyError's
 * `dependency`, RecordRefusedError and SequenceConflictError.
 */
import { RatestreamError } from "../errors.js";
import { kafkaError } from "./kafka/errors.js";
import { postgresError } from "./postgres/errors.js";
import { redisError } from "./redis/errors.js";
import { registryError } from "./registry/avro.js";

/** The error as ratestream's own, or itself when no adapter knows it (a bug, or unknown). */
export function typedError(err: unknown): unknown {
  if (err instanceof RatestreamError) return err;
  // Order matters only for Node's socket codes, which only pg lets through raw.
  return kafkaError(err) ?? redisError(err) ?? registryError(err) ?? postgresError(err) ?? err;
}
