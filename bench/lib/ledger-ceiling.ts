/**
 * The ledger's own ceiling, the yardstick of the pipeline's throughput: rows per second
 * that the project's ledger write sustains with nothing else running. It is the write the
 * rater does for each batch (`PostgresLedger.record`: the same schema, the same multi-row
 * insert with its unique (account, key) dedupe and chain check, the same rows: call
 * entries with rate version, cdr_id and details), at the pipeline's batch size, with as
 * many batches in flight as the raters keep (`--concurrency` per rater). Accounts are
 * split between the writers the way the topic's key splits them between partitions, so
 * two writers never touch one account. `withDedupe` adds the write path's look-up before
 * the Redis step (`recorded`), one index probe per row, as the pipeline does it.
 */
import type pg from "pg";
import { PostgresLedger } from "../../src/adapters/postgres/ledger.js";
import type { Applied } from "../../src/balances/types.js";
import { prng, zipfSampler } from "../../src/tools/cdr-generator.js";

export interface CeilingOptions {
  rows: number;
  batch: number;
  writers: number;
  withDedupe: boolean;
  /** Distinguishes the keys of several measurements on the same accounts. */
  tag: string;
}

/**
 * Accounts must exist, each with its ledger at `opening` (seq and balance after its last
 * entry); `opening` is advanced, so measurements can follow one another.
 */
export async function ledgerCeiling(
  pool: pg.Pool,
  opening: Map<string, { seq: bigint; balance: bigint }>,
  options: CeilingOptions,
): Promise<number> {
  const ledger = new PostgresLedger(pool);
  const accounts = [...opening.keys()];
  const lanes = Array.from({ length: options.writers }, (_, w) =>
    accounts.filter((_, i) => i % options.writers === w),
  );
  const perWriter = Math.ceil(options.rows / options.writers);
  // Built before the clock starts: the ceiling is Postgres's, not this generator's.
  const work = lanes.map((lane, w) => batchesOf(lane, opening, perWriter, options, w));
  const started = performance.now();
  await Promise.all(
    work.map(async (batches) => {
      for (const applied of batches) {
        if (options.withDedupe) await ledger.recorded(applied.map(({ request }) => request));
        const result = await ledger.record(applied, new Date());
        if (result.status !== "recorded") throw new Error(`ledger ceiling: a batch was ${result.status}`);
      }
    }),
  );
  return (perWriter * options.writers) / ((performance.now() - started) / 1000);
}

function batchesOf(
  lane: string[],
  opening: Map<string, { seq: bigint; balance: bigint }>,
  rows: number,
  options: CeilingOptions,
  writer: number,
): Applied[][] {
  const random = prng(writer + 1);
  const pick = zipfSampler(lane.length, 1.1, random);
  const batches: Applied[][] = [];
  for (let done = 0; done < rows;) {
    const applied: Applied[] = [];
    for (; applied.length < options.batch && done < rows; done++) {
      const accountId = lane[pick()]!;
      const before = opening.get(accountId)!;
      const charge = 1_000n + BigInt(Math.floor(random() * 500_000));
      const seq = before.seq + 1n;
      const after = before.balance - charge;
      opening.set(accountId, { seq, balance: after });
      const cdrId = `ceiling-${options.tag}-${writer}-${done}`;
      const request = {
        accountId,
        key: `cdr:${cdrId}`,
        kind: "call" as const,
        amountMicros: -charge,
        cause: cdrId,
        cdrId,
        rateVersion: 3,
        details: { billed_seconds: 120, prefix: "4420", rate_effective_from: "2026-01-01T00:00:00Z" },
      };
      applied.push({
        request,
        entries: [
          {
            accountId,
            seq,
            key: request.key,
            kind: "call",
            amountMicros: -charge,
            beforeMicros: before.balance,
            afterMicros: after,
            cause: cdrId,
          },
        ],
        events: [],
      });
    }
    batches.push(applied);
  }
  return batches;
}
