/**
 * A CDR stream for rater tests: sample decks imported, funded accounts, topics of the
 * test's own, generated CDRs, and the independent expectation computed by the rating
 * core from the same decks.
 */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { importDeckSet } from "../../src/adapters/postgres/rate-versions.js";
import { groupCaughtUp } from "../../src/adapters/kafka/offsets.js";
import type { KafkaAdmin, KafkaProducer } from "../../src/adapters/kafka/types.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { crossings } from "../../src/core/balance-rules.js";
import { validateCdr } from "../../src/core/cdr.js";
import { parseRateDeck } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { buildRateTable } from "../../src/core/rating/rate-table.js";
import { allTopics, topicNames, type Topics } from "../../src/pipeline/topics.js";
import { generateCdrs, type RawCdr } from "../../src/tools/cdr-generator.js";
import { balanceRig, credit, type BalanceRig } from "./balances.js";
import { config, Scope, uniqueName } from "./services.js";

export const OPENING_MICROS = 20_000_000n;

export interface TestTopics {
  topicPrefix: string;
  topics: Topics;
  admin: KafkaAdmin;
  producer: KafkaProducer;
}

/**
 * Every topic of `topicNames` under a prefix of the test's own (`<name>-<unique>.`),
 * created with `partitions` and deleted at the end, and a producer on them: what a test
 * that starts `ratestream run` hands it as `--topic-prefix`.
 */
export async function testTopics(scope: Scope, name: string, partitions: number): Promise<TestTopics> {
  const topicPrefix = `${uniqueName(name)}.`;
  const topics = topicNames(topicPrefix);
  const admin = await scope.admin();
  await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions })));
  scope.defer(() => admin.deleteTopics(allTopics(topics)));
  const producer = await scope.kafka().producer();
  scope.defer(() => producer.disconnect());
  return { topicPrefix, topics, admin, producer };
}

export interface StreamRig {
  rig: BalanceRig;
  topics: Topics;
  topicPrefix: string;
  group: string;
  accounts: string[];
  admin: KafkaAdmin;
  producer: KafkaProducer;
  /** Generated CDRs (valid JSON shape), deterministic per seed. */
  cdrs(count: number, seed: number, options?: { unratedShare?: number }): RawCdr[];
  /** What each account's balance must be after the given distinct CDRs. */
  expectedBalances(cdrs: RawCdr[]): Map<string, bigint>;
  /** How many of these CDRs must be debited (valid, rated, known account), distinct by account and cdr_id. */
  acceptedCount(cdrs: RawCdr[]): number;
  sendJson(cdrs: RawCdr[]): Promise<void>;
  sendWithKcat(cdrs: RawCdr[], codec: "lz4" | "zstd" | "snappy" | "gzip"): void;
  callEntries(): Promise<number>;
  /** True once the group has committed every record of the cdrs topic. */
  caughtUp(): Promise<boolean>;
}

export async function streamRig(scope: Scope, accountCount = 8): Promise<StreamRig> {
  const rig = await balanceRig(scope);
  const [ratesText, surchargesText] = await Promise.all([
    readFile("rates/rates.csv", "utf8"),
    readFile("rates/surcharges.csv", "utf8"),
  ]);
  await importDeckSet(rig.pool, {
    rates: { file: "rates.csv", text: ratesText },
    surcharges: { file: "surcharges.csv", text: surchargesText },
  });
  const rates = parseRateDeck(ratesText, "rates.csv");
  const table = buildRateTable(
    { rates, surcharges: parseSurchargeDeck(surchargesText, "surcharges.csv") },
    1,
  );
  const prefixes = {
    outbound: rates.filter((r) => r.direction === "outbound").map((r) => r.prefix),
    inbound: rates.filter((r) => r.direction === "inbound").map((r) => r.prefix),
  };

  const accounts = await Promise.all(Array.from({ length: accountCount }, () => rig.newAccount()));
  await applyEntries(
    rig.deps,
    accounts.map((a) => credit(a, "opening", OPENING_MICROS)),
  );

  const { topicPrefix, topics, admin, producer } = await testTopics(scope, "r", 3);
  const group = uniqueName("g");

  const charge = (raw: RawCdr): bigint | undefined => {
    const decoded = validateCdr(raw);
    if (!decoded.ok || !accounts.includes(raw.account_id)) return undefined;
    const outcome = rateCdr(table, decoded.cdr);
    return outcome.ok ? outcome.chargeMicros : undefined;
  };
  const distinct = (cdrs: RawCdr[]) => [
    ...new Map(cdrs.map((c) => [`${c.account_id}/${c.cdr_id}`, c])).values(),
  ];

  return {
    rig,
    topics,
    topicPrefix,
    group,
    accounts,
    admin,
    producer,
    cdrs: (count, seed, options = {}) => [
      ...generateCdrs(count, {
        seed,
        accounts,
        prefixes,
        unratedShare: options.unratedShare ?? 0,
        idPrefix: `s${seed}`,
        startMs: Date.parse("2026-11-20T00:00:00Z"),
      }),
    ],
    expectedBalances(cdrs) {
      const balances = new Map(accounts.map((a) => [a, OPENING_MICROS]));
      for (const c of distinct(cdrs)) {
        const micros = charge(c);
        if (micros !== undefined) balances.set(c.account_id, balances.get(c.account_id)! - micros);
      }
      return balances;
    },
    acceptedCount: (cdrs) => distinct(cdrs).filter((c) => charge(c) !== undefined).length,
    async sendJson(cdrs) {
      for (let i = 0; i < cdrs.length; i += 500) {
        await producer.send(
          topics.cdrs,
          cdrs.slice(i, i + 500).map((c) => ({ key: c.account_id, value: JSON.stringify(c) })),
        );
      }
    },
    sendWithKcat(cdrs, codec) {
      const input = cdrs.map((c) => `${c.account_id}|${JSON.stringify(c)}`).join("\n") + "\n";
      execFileSync(
        "kcat",
        ["-P", "-b", config.kafkaBrokers.join(","), "-t", topics.cdrs, "-z", codec, "-K", "|"],
        {
          input,
        },
      );
    },
    async callEntries() {
      const { rows } = await rig.pool.query<{ n: string }>(
        "select count(*) as n from ledger_entries where kind = 'call'",
      );
      return Number(rows[0]!.n);
    },
    async caughtUp() {
      return groupCaughtUp(admin, group, topics.cdrs);
    },
  };
}

/** Replays the ledger in seq order and counts the crossings each account's events must show. */
export async function expectedCrossings(rig: BalanceRig, accountId: string): Promise<Record<string, number>> {
  const { rows } = await rig.pool.query<{ amount_micros: string }>(
    "select amount_micros from ledger_entries where account_id = $1 order by seq",
    [accountId],
  );
  const counts: Record<string, number> = {};
  let balance = 0n;
  for (const row of rows) {
    const before = balance;
    balance += BigInt(row.amount_micros);
    for (const type of crossings(before, balance)) counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}
