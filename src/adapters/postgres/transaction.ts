import type pg from "pg";

const ROLL_BACK = Symbol("roll back");

/** What a transaction's work returns to end it with a rollback, not an error. */
export interface RolledBack<T> {
  [ROLL_BACK]: true;
  value: T;
}

/** Ends the transaction with a rollback and makes `value` its result. */
export function rollBack<T>(value: T): RolledBack<T> {
  return { [ROLL_BACK]: true, value };
}

function isRolledBack<T>(result: T | RolledBack<T>): result is RolledBack<T> {
  return typeof result === "object" && result !== null && ROLL_BACK in result;
}

/**
 * Runs `work` in one transaction on `client`: commits when it returns, rolls back when
 * it returns `rollBack(value)` or throws (the error then leaves as it came). `begin`
 * may name an isolation level ("begin isolation level repeatable read read only").
 */
export async function transaction<T>(
  client: pg.PoolClient,
  work: (client: pg.PoolClient) => Promise<T | RolledBack<T>>,
  begin = "begin",
): Promise<T> {
  await client.query(begin);
  try {
    const result = await work(client);
    if (isRolledBack(result)) {
      await client.query("rollback");
      return result.value;
    }
    await client.query("commit");
    return result;
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  }
}

/** `transaction` on a client of the pool, released afterwards. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T | RolledBack<T>>,
  begin = "begin",
): Promise<T> {
  const client = await pool.connect();
  try {
    return await transaction(client, work, begin);
  } finally {
    client.release();
  }
}
