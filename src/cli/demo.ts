/**
 * `ratestream demo`: the whole job on local defaults. Migrates, imports the sample
 * decks, funds sample accounts, starts the rater and both workers as child processes
 * (Stripe and SMTP replaced by local fakes), sets up three showcase accounts through the
 * HTTP API, then runs two phases, each for a bounded time with a progress line: prepaid
 * calls placed by a switch simulator through call sessions (SPEC §8) on accounts of
 * their own, then a throughput phase of plain CDRs at the demo's rate. It waits until
 * every record and event is handled, prints a summary read back from Kafka, Postgres,
 * the Stripe fake and the SMTP sink, reconciles (exit 1 on drift, or when an account
 * whose calls all went through sessions fell below 2.00) and stops everything.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import type { KafkaAdmin } from "../adapters/kafka/types.js";
import { loadConfig } from "../config/env.js";
import { RatestreamError } from "../errors.js";
import { createKafkaClient } from "../adapters/kafka/select.js";
import { groupCaughtUp } from "../adapters/kafka/offsets.js";
import { migrate } from "../adapters/postgres/migrate.js";
import { importDeckSet } from "../adapters/postgres/rate-versions.js";
import { applyEntries } from "../balances/write-path.js";
import { checkAccount } from "../balances/reconcile.js";
import { formatAmount } from "../core/money.js";
import { parseRateDeck } from "../core/decks/rate-deck.js";
import { createLogger } from "../observability/logger.js";
import { allTopics, topicNames } from "../pipeline/topics.js";
import { generateCdrs, offerAtRate } from "../tools/cdr-generator.js";
import { withStores } from "./context.js";
import { deprecatedFlag } from "./deprecated-flag.js";
import * as parse from "./parse.js";
import { runSessionPhase, sessionSummary } from "./demo-sessions.js";
import {
  billingSummary,
  setUpShowcase,
  startBillingFakes,
  startChild,
  waitForWorkers,
  waitReady,
  type Child,
} from "./demo-billing.js";

const ROOT = new URL("../../", import.meta.url);
const GROUP = "ratestream-demo";

interface DemoOptions {
  throughputForS: number;
  rate: number;
  accounts: number;
  port: number;
  sessionsForS: number;
  callRate: number;
  sessionAccounts: number;
  speed: number;
  lines: number;
}

export function registerDemoCommand(program: Command): void {
  const demo = program
    .command("demo")
    .description("run the whole job end to end on local defaults and print what happened")
    .option("--throughput-for-s <s>", "how long the throughput phase streams plain CDRs", parse.seconds, 15)
    .option("--rate <n>", "CDRs offered per second in the throughput phase", (v) => Number(v), 10_000)
    .option("--accounts <n>", "sample accounts of the throughput phase", (v) => Number(v), 200)
    .option("--sessions-for-s <s>", "how long the switch places calls through sessions", parse.seconds, 10)
    .option("--call-rate <n>", "calls the switch places per second", (v) => Number(v), 100)
    .option("--lines <n>", "calls the switch carries at once", (v) => Number(v), 500)
    .option("--session-accounts <n>", "accounts whose calls all go through sessions", (v) => Number(v), 50)
    .option("--speed <n>", "call seconds per real second in the session phase", (v) => Number(v), 2_400)
    .option("--port <n>", "HTTP port of the demo's rater", (v) => Number(v), 18080)
    .action(async (o: DemoOptions) => {
      process.exitCode = await runDemo(o);
    });
  deprecatedFlag(demo, { flags: "--seconds <n>", replacement: "--throughput-for-s", parse: parse.seconds });
  deprecatedFlag(demo, {
    flags: "--session-seconds <n>",
    replacement: "--sessions-for-s",
    parse: parse.seconds,
  });
}

const say = (line = "") => process.stdout.write(`${line}\n`);

async function runDemo(o: DemoOptions): Promise<number> {
  const config = loadConfig(process.env);
  const runId = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  // Topics of this run's own, removed at the end: a demo never reads an older run's records.
  const topicPrefix = `demo-${runId}.`;
  const topics = topicNames(topicPrefix);
  const kafka = await createKafkaClient({ brokers: config.kafkaBrokers, logger: createLogger("error") });

  return withStores(async (ctx) => {
    say(`== migrate: ${JSON.stringify(await migrate(ctx.pool))}`);
    const deck = (name: string) => readFile(new URL(`rates/${name}`, ROOT), "utf8");
    const rates = await deck("rates.csv");
    const imported = await importDeckSet(ctx.pool, {
      rates: { file: "rates/rates.csv", text: rates },
      surcharges: { file: "rates/surcharges.csv", text: await deck("surcharges.csv") },
      numbers: { file: "rates/numbers.csv", text: await deck("numbers.csv") },
    });
    say(`== rate version ${imported.version} (${imported.created ? "imported" : "already the newest"})`);

    // Sample accounts, most well funded, some close to the thresholds to show crossings;
    // the session phase's accounts ("-s") are funded alike.
    const accounts = Array.from({ length: o.accounts }, (_, i) => `demo-${runId}-${i + 1}`);
    const sessionAccounts = Array.from({ length: o.sessionAccounts }, (_, i) => `demo-${runId}-s${i + 1}`);
    const everyAccount = [...sessionAccounts, ...accounts];
    await ctx.pool.query(
      `insert into accounts (account_id, admin_email) select a, 'admin@' || a || '.example' from unnest($1::text[]) a`,
      [everyAccount],
    );
    await applyEntries(
      ctx,
      [...accounts, ...sessionAccounts].map((accountId, i) => ({
        accountId,
        key: "credit:demo-opening",
        kind: "credit" as const,
        amountMicros: i % 4 === 0 || i === 1 ? 6_000_000n : 50_000_000n,
        cause: "demo-opening",
        reference: "demo-opening",
      })),
    );
    say(
      `== ${accounts.length} accounts funded for the throughput phase (${accounts[0]} … ${accounts.at(-1)}), ` +
        `${sessionAccounts.length} for the session phase (${sessionAccounts[0]} … ${sessionAccounts.at(-1)})`,
    );

    const admin = await kafka.admin();
    await admin.createTopics(allTopics(topics).map((topic) => ({ topic, partitions: 3 })));

    // The busiest accounts (the generator favours the first ones) show the billing rules.
    const showcase = { autoRecharge: accounts[0]!, declined: accounts[1]!, offline: accounts[2]! };
    const fakes = await startBillingFakes();
    const groups = { recharge: `${GROUP}-recharge`, notify: `${GROUP}-notify` };
    const children: Child[] = [];
    const start = (name: string, args: string[], port: number, env: Record<string, string> = {}) => {
      const child = startChild(name, [...args, "--topic-prefix", topicPrefix], port, {
        ...fakes.env,
        ...env,
      });
      children.push(child);
      return child;
    };
    try {
      // One switch key serves every tenant: its request limit must carry the switch's calls.
      const rater = start("rater", ["run", "--group", GROUP], o.port, { API_RATE_LIMIT_PER_S: "100000" });
      const workers = [
        start("recharge-worker", ["recharge-worker", "--group", groups.recharge], o.port + 1),
        start("notify-worker", ["notify-worker", "--group", groups.notify], o.port + 2),
      ];
      for (const child of [rater, ...workers]) await waitReady(child);
      say(
        `== rater running (group ${GROUP}, topics ${topicPrefix}*, metrics on http://127.0.0.1:${o.port}/metrics)`,
      );
      say(`== recharge-worker and notify-worker running (metrics on ports ${o.port + 1}, ${o.port + 2})`);
      await setUpShowcase(ctx.pool, ctx, o.port, showcase);
      say(
        `== ${showcase.autoRecharge} and ${showcase.declined}: card saved and auto-recharge on through the API; ${showcase.offline}: offline auto-recharge`,
      );

      const rows = parseRateDeck(rates, "rates.csv");
      const prefixes = {
        outbound: rows.filter((r) => r.direction === "outbound").map((r) => r.prefix),
        inbound: rows.filter((r) => r.direction === "inbound").map((r) => r.prefix),
      };
      const producer = await kafka.producer();

      say(
        `== phase 1, prepaid: a switch simulator places ${o.callRate} calls/s for ${o.sessionsForS} s on the ${sessionAccounts.length} "-s" accounts, ` +
          `each through a call session (start, renew, cut at the grant, end, CDR); call time runs ${o.speed}× real time`,
      );
      const sessionStarted = Date.now();
      const phase = await runSessionPhase({
        pool: ctx.pool,
        producer,
        topic: topics.cdrs,
        apiPort: o.port,
        accounts: sessionAccounts,
        prefixes,
        seconds: o.sessionsForS,
        callsPerSecond: o.callRate,
        speed: o.speed,
        seed: Number(runId.slice(-6)) + 1,
        idPrefix: `demo-${runId}-call`,
        maxConcurrent: o.lines,
        onTick: (s, sent) =>
          progress(
            sessionStarted,
            o.sessionsForS,
            `calls ${s.offered.toLocaleString("en-US")}  refused ${Object.values(s.refused).reduce((a, b) => a + b, 0)}  renews ${s.renews}  CDRs sent ${sent}`,
          ),
      });
      await drain(admin, topics.cdrs, () => progress(sessionStarted, o.sessionsForS, "draining"));
      const sessionDrained = Date.now();
      const sessionRated = await callsInLedger(ctx.pool, sessionAccounts);

      say(
        `== phase 2, throughput: plain CDRs at ${o.rate.toLocaleString("en-US")}/s for ${o.throughputForS} s on the other ${accounts.length} accounts, ` +
          `from a switch that does not ask before calls (no sessions: these balances can fall below 2.00, SPEC §1.5)`,
      );
      const ratedBefore = await ratedSoFar(o.port);
      const started = Date.now();
      const deadline = started + parse.toMs(o.throughputForS);
      const cdrs = generateCdrs(Number.MAX_SAFE_INTEGER, {
        seed: Number(runId.slice(-6)),
        accounts,
        prefixes,
        unratedShare: 0.005,
        idPrefix: `demo-${runId}`,
        startMs: Date.now() - 60_000,
      });
      const sent = await offerAtRate({
        producer,
        topic: topics.cdrs,
        cdrs,
        perSecond: o.rate,
        until: () => Date.now() >= deadline,
        onTick: async (n) =>
          throughputProgress(started, o.throughputForS, n, (await ratedSoFar(o.port)) - ratedBefore),
      });
      await producer.disconnect();
      const producedAt = Date.now();
      await drain(admin, topics.cdrs, async () =>
        throughputProgress(started, o.throughputForS, sent, (await ratedSoFar(o.port)) - ratedBefore),
      );
      const finished = Date.now();

      const floorHeld = await sessionSummary(
        ctx.pool,
        sessionAccounts,
        phase,
        {
          count: sessionRated,
          seconds: (sessionDrained - sessionStarted) / 1000,
        },
        say,
      );
      await summary(ctx.pool, accounts, {
        sent,
        seconds: (finished - started) / 1000,
        drainSeconds: (finished - producedAt) / 1000,
      });
      say(`dead letters:        ${sum(await admin.endOffsets(topics.deadLetters))} (both phases)`);
      say(`CDRs by session:     ${await cdrsBySession(o.port)} (ratestream_call_cdrs_total)`);

      const settled = await waitForWorkers(
        admin,
        ctx.pool,
        everyAccount,
        topics.balanceEvents,
        Object.values(groups),
      );
      if (!settled) say("(the workers had not read every balance event within a minute)");
      await billingSummary(ctx.pool, everyAccount, showcase, fakes, say);

      let drifted = 0;
      for (const account of everyAccount) {
        if ((await checkAccount(ctx.store, ctx.ledger, account)).status === "drift") drifted++;
      }
      say(`== reconcile: ${everyAccount.length} accounts checked, ${drifted} drifted`);
      return drifted > 0 || !floorHeld ? 1 : 0;
    } finally {
      for (const child of children.reverse()) say(`== ${child.name} stopped (exit ${await child.stop()})`);
      await fakes.stop();
      await admin.deleteTopics(allTopics(topics)).catch(() => undefined);
      await admin.disconnect();
    }
  });
}

function sum(offsets: { offset: string }[]): number {
  return offsets.reduce((n, p) => n + Number(p.offset), 0);
}

async function ratedSoFar(port: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  return Number(/^ratestream_cdrs_rated_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Waits until the rater has committed every record of the topic (at most 2 minutes). */
async function drain(admin: KafkaAdmin, topic: string, onPoll: () => unknown): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const caughtUp = await groupCaughtUp(admin, GROUP, topic);
    await onPoll();
    if (caughtUp) {
      if (process.stderr.isTTY) process.stderr.write("\n");
      return;
    }
    await sleep(200);
  }
  throw new RatestreamError("dependency_unavailable", "the rater did not catch up within 2 minutes");
}

async function callsInLedger(pool: import("pg").Pool, accounts: string[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    "select count(*) as n from ledger_entries where account_id = any($1::text[]) and kind = 'call'",
    [accounts],
  );
  return Number(rows[0]!.n);
}

/** "settled N, none M": CDRs whose debit settled a session, and CDRs that found none. */
async function cdrsBySession(port: number): Promise<string> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  const count = (label: string) =>
    Number(
      new RegExp(`^ratestream_call_cdrs_total\\{session="${label}"\\} (\\d+)`, "m").exec(text)?.[1] ?? 0,
    );
  return `settled a session ${count("settled").toLocaleString("en-US")}, found none ${count("none").toLocaleString("en-US")}`;
}

function throughputProgress(started: number, seconds: number, sent: number, rated: number): void {
  progress(started, seconds, `sent ${sent.toLocaleString("en-US")}  rated ${rated.toLocaleString("en-US")}`);
}

let lastLogged = 0;

/** A bar redrawn in place on a terminal; a plain line every 5 s in a log. */
function progress(started: number, seconds: number, detail: string): void {
  const elapsed = (Date.now() - started) / 1000;
  const done = Math.min(1, elapsed / seconds);
  const bar = "#".repeat(Math.round(done * 30)).padEnd(30, ".");
  const line = `[${bar}] ${elapsed.toFixed(1)}s  ${detail}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}   `);
  else if (Date.now() - lastLogged >= 5_000) {
    lastLogged = Date.now();
    process.stderr.write(`${line}\n`);
  }
}

async function summary(
  pool: import("pg").Pool,
  accounts: string[],
  run: { sent: number; seconds: number; drainSeconds: number },
): Promise<void> {
  const {
    rows: [calls],
  } = await pool.query<{ n: string; debited: string }>(
    `select count(*) as n, coalesce(-sum(amount_micros), 0) as debited
       from ledger_entries where account_id = any($1::text[]) and kind = 'call'`,
    [accounts],
  );
  const rated = Number(calls!.n);
  say("== throughput phase (plain CDRs, no sessions)");
  say(`CDRs sent:           ${run.sent.toLocaleString("en-US")}`);
  say(`CDRs rated:          ${rated.toLocaleString("en-US")} (in the ledger)`);
  say(
    `throughput:          ${Math.round(rated / run.seconds).toLocaleString("en-US")} CDRs/s end to end (${run.seconds.toFixed(1)} s, ${run.drainSeconds.toFixed(1)} s of it draining after the last send)`,
  );
  say(`money debited:       ${formatAmount(BigInt(calls!.debited))}`);
  const events = await pool.query<{ type: string; n: string }>(
    "select type, count(*) as n from balance_events where account_id = any($1::text[]) group by type order by type",
    [accounts],
  );
  say(`events by type:      ${events.rows.map((r) => `${r.type} ${r.n}`).join(", ")}`);
  const balances = await pool.query<{ account_id: string; balance: string }>(
    `select account_id, sum(amount_micros) as balance from ledger_entries
      where account_id = any($1::text[]) group by account_id order by balance`,
    [accounts],
  );
  const blocked = balances.rows.filter((r) => BigInt(r.balance) < 2_000_000n).length;
  say(`balances:            ${blocked} of ${accounts.length} accounts blocked; lowest:`);
  for (const row of balances.rows.slice(0, 5))
    say(`  ${row.account_id.padEnd(32)} ${formatAmount(BigInt(row.balance))}`);
}
