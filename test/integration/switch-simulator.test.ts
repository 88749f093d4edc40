/**
 * The demo's switch simulator against a real `ratestream run` and its CDRs through
 * Kafka: many calls at once on accounts short of credit, each through a session, cut
 * at its grant, renewed, ended, and settled by its CDR. The balance of every account
 * stays at 2.00 or more at every ledger entry, and every CDR settles its session.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../src/adapters/postgres/accounts.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { generateCdrs, type RawCdr } from "../../src/tools/cdr-generator.js";
import { httpSessionApi, runSwitch, type SwitchStats } from "../../src/tools/switch-simulator.js";
import { importTestDecks } from "../support/api.js";
import { balanceRig, credit, type BalanceRig } from "../support/balances.js";
import { eventually, metric, startRater, waitReady, type RaterProcess } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";
import { testTopics } from "../support/stream.js";

describe("the switch simulator on a real rater", () => {
  const scope = new Scope();
  let rig: BalanceRig;
  let rater: RaterProcess;
  let accounts: string[];
  let stats: SwitchStats;
  let emitted: RawCdr[];

  beforeAll(async () => {
    rig = await balanceRig(scope);
    await importTestDecks(rig.pool);
    const { topicPrefix, topics, producer } = await testTopics(scope, "switch", 2);

    // Two accounts a little above 2.00 (most calls refused or cut), one with room for renews.
    accounts = [await rig.newAccount(), await rig.newAccount(), await rig.newAccount()];
    const funds = [2_700_000n, 4_000_000n, 40_000_000n];
    await applyEntries(
      rig.deps,
      accounts.map((a, i) => credit(a, uniqueName("fund"), funds[i]!)),
    );

    rater = startRater({ databaseUrl: rig.databaseUrl, topicPrefix, group: uniqueName("g") });
    scope.defer(() => rater.stop("SIGKILL"));
    await waitReady(rater);
    const { api_key } = await createApiKey(rig.pool, "switch", null);

    emitted = [];
    const deadline = Date.now() + 3_000;
    stats = await runSwitch({
      api: httpSessionApi(`http://127.0.0.1:${rater.port}`, api_key),
      calls: generateCdrs(Number.MAX_SAFE_INTEGER, {
        seed: 14,
        accounts,
        skew: 0,
        prefixes: { outbound: ["44", "33"], inbound: ["44"] },
        features: ["recording", "conference"],
        surchargeShare: 0.3,
        idPrefix: uniqueName("call"),
      }),
      callsPerSecond: 40,
      until: () => Date.now() >= deadline,
      call: { speed: 3_000 },
      emitCdr: (cdr) => emitted.push(cdr),
    });
    await producer.send(
      topics.cdrs,
      emitted.map((c) => ({ key: c.account_id, value: JSON.stringify(c) })),
    );
    await eventually(
      async () => {
        const { rows } = await rig.pool.query<{ n: string }>(
          "select count(*) as n from ledger_entries where account_id = any($1::text[]) and kind = 'call'",
          [accounts],
        );
        return Number(rows[0]!.n) === emitted.length;
      },
      60_000,
      "every emitted CDR in the ledger",
    );
  });
  afterAll(() => scope.cleanup());

  it("places calls concurrently: some refused for credit, some cut at their grant, some renewed", () => {
    expect(stats.failed, stats.firstError).toBe(0);
    expect(stats.errors).toBe(0);
    expect(stats.completed).toBe(emitted.length);
    expect(stats.refused.insufficient_credit ?? 0).toBeGreaterThan(0);
    expect(stats.cut).toBeGreaterThan(0);
    expect(stats.renews).toBeGreaterThan(0);
    expect(stats.peakConcurrent).toBeGreaterThan(1);
  });

  it("no account's balance ever went below 2.00, at any ledger entry", async () => {
    const { rows } = await rig.pool.query<{ account_id: string; lowest: string }>(
      "select account_id, min(balance_after_micros) as lowest from ledger_entries where account_id = any($1::text[]) group by account_id",
      [accounts],
    );
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(BigInt(row.lowest), row.account_id).toBeGreaterThanOrEqual(2_000_000n);
  });

  it("every CDR settled its session (cdr_id = call_id) and none is left open", async () => {
    expect(await metric(rater, 'ratestream_call_cdrs_total{session="settled"}')).toBe(emitted.length);
    expect(await metric(rater, 'ratestream_call_cdrs_total{session="none"}')).toBe(0);
    const { rows } = await rig.pool.query<{ state: string; n: string }>(
      "select state, count(*) as n from call_sessions where account_id = any($1::text[]) group by state",
      [accounts],
    );
    expect(Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]))).toEqual({
      settled: emitted.length,
    });
  });
});
