/** Phone numbers bought from credits (SPEC §1.12); bought in the ledger's transaction (ledger.ts). */
import type pg from "pg";

/** The account that owns a number, if any. */
export async function numberOwner(pool: pg.Pool, number: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ account_id: string }>(
    "select account_id from phone_numbers where number = $1",
    [number],
  );
  return rows[0]?.account_id;
}
