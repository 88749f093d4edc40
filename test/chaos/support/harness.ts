/**
 * The chaos rig: a CDR stream (test/support/stream.ts) on the private servers, two
 * accounts with online auto-recharge and a saved card (Stripe fake), the
 * recharge-worker and notify-worker running (SMTP sink), a background flow of CDRs,
 * and the checks of SPEC §5 the suite runs after each fault:
 *
 * - `checkNow()` holds at any instant, even with the rater dead mid-batch: every call in
 *   the ledger is a CDR that was sent, priced as the rating core prices it, once; each
 *   account's ledger is a gap-free sequence whose balance_after values add up; the
 *   recorded events are exactly the crossings a replay of the ledger finds; Redis agrees
 *   with the ledger; no card charged twice for one request; no good record dead-lettered.
 * - `checkAll()`, once everything has caught up: every accepted CDR is debited, each
 *   balance equals opening + the rating core's charges + the fake's succeeded charges,
 *   charges and auto-recharge credits match one to one, the outbox is drained,
 *   `ratestream reconcile` exits 0, every bad record is dead-lettered and every emailed
 *   event has exactly one email (or, after the notify-worker was SIGKILLed or Postgres
 *   crashed under it, copies with the same Message-ID).
 */
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { expect } from "vitest";
import { createStripePayments } from "../../../src/adapters/stripe/stripe-payments.js";
import { checkAccount } from "../../../src/balances/reconcile.js";
import { crossings, requestsOnlineRecharge } from "../../../src/core/balance-rules.js";
import { EMAILED_TYPES } from "../../../src/notify/emails.js";
import { prng, type RawCdr } from "../../../src/tools/cdr-generator.js";
import { SmtpSink } from "../../../src/tools/smtp-sink.js";
import { StripeFake } from "../../../src/tools/stripe-fake.js";
import { ratestream } from "../../support/cli.js";
import { privateRedis, type PrivateRedis } from "../../support/private-redis.js";
import { startCommand, startRater, waitReady, type RaterProcess } from "../../support/rater.js";
import { config, Scope, uniqueName } from "../../support/services.js";
import { OPENING_MICROS, streamRig, type StreamRig } from "../../support/stream.js";
import { CHAOS_PORTS } from "./servers.js";

const run = promisify(execFile);
const STRIPE_KEY = "sk_test_chaos";
export const AUTO_RECHARGE_MICROS = 25_000_000n;

/** Seeded (mulberry32, the generator's own), so a failing run can be repeated with CHAOS_SEED. */
export const seededRandom = prng;

/** A stream of CDRs sent in the background, some of them twice (a switch re-sends). */
export class Flow {
  readonly sent: RawCdr[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  private seed: number;

  constructor(
    private readonly s: StreamRig,
    seed: number,
    private readonly perTick = 40,
    private readonly everyMs = 200,
  ) {
    this.seed = seed;
  }

  /** Sends one chunk now (retrying through broker outages until the broker has it). */
  async sendChunk(count = this.perTick): Promise<void> {
    const chunk = this.s.cdrs(count, this.seed++, { unratedShare: 0.01 });
    const resend = this.sent.slice(-5);
    this.sent.push(...chunk);
    for (;;) {
      try {
        await this.s.sendJson([...chunk, ...resend]);
        return;
      } catch {
        await sleep(300); // the broker is away: the same records again (duplicates are fine)
      }
    }
  }

  start(): void {
    this.stopped = false;
    this.running = (async () => {
      while (!this.stopped) {
        await this.sendChunk();
        await sleep(this.everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.running = undefined;
  }
}

interface LedgerRow {
  account_id: string;
  seq: string;
  kind: string;
  amount_micros: string;
  balance_after_micros: string;
  cdr_id: string | null;
  reference: string | null;
}

export interface ChaosRig {
  s: StreamRig;
  redis: PrivateRedis;
  fake: StripeFake;
  sink: SmtpSink;
  flow: Flow;
  autoAccounts: string[];
  random: () => number;
  /** A rater on the rig's topics and group, SIGKILLed at clean-up if still running. */
  rater(fault?: string): RaterProcess;
  /** Starts (or, after a SIGKILL, restarts with a new group that re-reads every event) a worker. */
  startWorker(kind: "recharge" | "notify"): Promise<RaterProcess>;
  killWorker(kind: "recharge" | "notify"): Promise<void>;
  /** From now on, an emailed event may have several copies of its email (same Message-ID). */
  allowEmailResends(): void;
  /** Waits until the rater, the outbox and both workers have handled everything. */
  /** Waits until the rater, the outbox and both workers have handled everything; on a time-out it
   * says what had not, with the rater's output when given. */
  quiesce(timeoutMs?: number, rater?: RaterProcess): Promise<void>;
  checkNow(label: string): Promise<void>;
  checkAll(label: string): Promise<void>;
}

export interface ChaosOptions {
  /** The background flow: CDRs per chunk (default 40) and the pause between chunks (default 200 ms). */
  flow?: { perTick?: number; everyMs?: number };
}

export async function chaosRig(scope: Scope, seed: number, options: ChaosOptions = {}): Promise<ChaosRig> {
  const redis = privateRedis(CHAOS_PORTS.redis);
  await redis.start();
  scope.defer(() => redis.kill());
  const fake = new StripeFake();
  await fake.start();
  scope.defer(() => fake.stop());
  const sink = new SmtpSink();
  const smtpUrl = await sink.start();
  scope.defer(() => sink.stop());

  const s = await streamRig(scope, 8);
  // The suite restarts Postgres: an idle client's error must not take the test process down.
  s.rig.pool.on("error", () => undefined);

  // The two busiest accounts of the Zipf-skewed stream get online auto-recharge and a card
  // (as test/integration/recharge-worker.test.ts sets them up), then are dropped from Redis
  // so the next use restores them with these settings.
  const payments = createStripePayments({
    secretKey: STRIPE_KEY,
    apiBase: new URL(fake.url),
    maxNetworkRetries: 0,
  });
  const autoAccounts = s.accounts.slice(0, 2);
  for (const id of autoAccounts) {
    const customer = await payments.createCustomer(id, `admin@${id}.example`);
    await payments.savePaymentMethod(customer, "pm_card_visa");
    await s.rig.pool.query(
      `update accounts set stripe_customer_id = $2, stripe_payment_method = $3, auto_recharge_enabled = true,
         auto_recharge_amount_micros = $4, auto_recharge_monthly_limit_micros = null where account_id = $1`,
      [id, customer, "pm_card_visa", AUTO_RECHARGE_MICROS.toString()],
    );
    await s.rig.deps.store.forget(id);
  }

  const workers: Partial<Record<"recharge" | "notify", { process: RaterProcess; group: string }>> = {};
  // SMTP has no idempotent send: a crash between the send and its record resends, once per
  // crash, with the same Message-ID (src/notify/notify-handler.ts) — a SIGKILLed notify-worker,
  // or Postgres going away under it.
  let resendsAllowed = false;
  const startWorker = async (kind: "recharge" | "notify") => {
    const group = uniqueName(`g_${kind}`);
    const env: Record<string, string> =
      kind === "recharge"
        ? { DATABASE_URL: s.rig.databaseUrl, STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_API_BASE: fake.url }
        : { DATABASE_URL: s.rig.databaseUrl, SMTP_URL: smtpUrl };
    const process = startCommand(
      [`${kind}-worker`, "--topic-prefix", s.topicPrefix, "--group", group, "--partitions", "3"],
      env,
    );
    scope.defer(() => process.stop("SIGKILL"));
    workers[kind] = { process, group };
    await waitReady(process);
    return process;
  };
  await Promise.all([startWorker("recharge"), startWorker("notify")]);

  const flow = new Flow(s, seed, options.flow?.perTick, options.flow?.everyMs);
  const random = seededRandom(seed);
  const chargeCache = new Map<string, bigint | undefined>();
  /** The rating core's charge of a CDR, or undefined when it must not be debited. */
  const chargeOf = (c: RawCdr): bigint | undefined => {
    const key = `${c.account_id}/${c.cdr_id}`;
    if (!chargeCache.has(key)) {
      chargeCache.set(
        key,
        s.acceptedCount([c]) === 1 ? OPENING_MICROS - s.expectedBalances([c]).get(c.account_id)! : undefined,
      );
    }
    return chargeCache.get(key);
  };

  const count = async (sql: string, params: unknown[] = []) =>
    Number((await s.rig.pool.query<{ n: string }>(sql, params)).rows[0]!.n);

  async function deadLettered(): Promise<string[]> {
    const { stdout } = await run(
      "kcat",
      ["-C", "-b", config.kafkaBrokers.join(","), "-t", s.topics.deadLetters, "-e", "-q", "-f", "%s\n"],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => (JSON.parse(l) as { cdr_id: string }).cdr_id);
  }

  /** Everything checkNow needs, read in one snapshot of the ledger. */
  async function snapshot() {
    const client = await s.rig.pool.connect();
    try {
      await client.query("begin isolation level repeatable read read only");
      const entries = (
        await client.query<LedgerRow>(
          `select account_id, seq, kind, amount_micros, balance_after_micros, cdr_id, reference
             from ledger_entries order by account_id, seq`,
        )
      ).rows;
      const events = (
        await client.query<{ account_id: string; type: string; event_id: string }>(
          "select account_id, type, event_id from balance_events",
        )
      ).rows;
      await client.query("commit");
      return { entries, events };
    } finally {
      client.release();
    }
  }

  async function checkNow(label: string): Promise<void> {
    const intentsBefore = fake.intents.filter((i) => i.status === "succeeded").map((i) => ({ ...i }));
    // Entries a killed rater applied in Redis but never recorded wait there for their
    // redelivery, while a worker may record later entries of the same account: read them
    // before the ledger, so each such seq is in one of the two.
    const pending = new Map<string, { seq: bigint; amountMicros: bigint }[]>();
    for (const account of s.accounts) {
      const held = await s.rig.deps.store.snapshot(account);
      if (held !== "missing")
        pending.set(
          account,
          held.pending.flatMap((u) => u.entries),
        );
    }
    const { entries, events } = await snapshot();
    const intentsAfter = fake.intents.filter((i) => i.status === "succeeded");
    const sent = new Map(flow.sent.map((c) => [`${c.account_id}/${c.cdr_id}`, c]));

    for (const account of s.accounts) {
      const recordedRows = entries.filter((e) => e.account_id === account);
      const recordedSeqs = new Set(recordedRows.map((r) => Number(r.seq)));
      const waiting = (pending.get(account) ?? [])
        .filter((e) => !recordedSeqs.has(Number(e.seq)))
        .map((e) => ({ seq: String(e.seq), kind: "unrecorded", amount_micros: String(e.amountMicros) }));
      const rows = [...recordedRows, ...waiting].sort((a, b) => Number(a.seq) - Number(b.seq)) as LedgerRow[];
      const auto = autoAccounts.includes(account);
      // A gap-free sequence whose balances add up; calls priced as the rating core prices them.
      let balance = 0n;
      const expected: Record<string, number> = {};
      const hit = (type: string) => (expected[type] = (expected[type] ?? 0) + 1);
      rows.forEach((row, i) => {
        expect(Number(row.seq), `${label}: ${account} seq`).toBe(i + 1);
        const before = balance;
        balance += BigInt(row.amount_micros);
        if (row.kind === "unrecorded") return; // its events are recorded with it, later
        expect(BigInt(row.balance_after_micros), `${label}: ${account} balance after seq ${row.seq}`).toBe(
          balance,
        );
        if (row.kind === "call") {
          const cdr = sent.get(`${account}/${row.cdr_id}`);
          expect(
            cdr,
            `${label}: ${account} was debited for ${row.cdr_id}, which was never sent`,
          ).toBeDefined();
          expect(-BigInt(row.amount_micros), `${label}: charge of ${row.cdr_id}`).toBe(chargeOf(cdr!));
        }
        // The balance rules of src/core/balance-rules.ts, the ones apply-2n.lua applies.
        for (const type of crossings(before, balance)) hit(type);
        if (row.kind === "auto_recharge") hit("recharged");
        if (auto && requestsOnlineRecharge(before, balance, row.kind)) hit("auto_recharge_requested");
      });
      // Events once per crossing: exactly what the replay of the ledger finds.
      const recorded: Record<string, number> = {};
      for (const e of events.filter((e) => e.account_id === account))
        recorded[e.type] = (recorded[e.type] ?? 0) + 1;
      // Exact once nothing of the account waits for a redelivery (the full check, at the
      // end, always has nothing waiting).
      if (waiting.length === 0) expect(recorded, `${label}: events of ${account}`).toEqual(expected);
      // Redis agrees with the ledger (or has not loaded the account yet).
      const check = await checkAccount(s.rig.deps.store, s.rig.deps.ledger, account);
      expect(check.status, `${label}: reconcile ${account}: ${JSON.stringify(check)}`).not.toBe("drift");
    }
    // Each call at most once (the ledger's unique key makes a double impossible; a
    // double under another key would show here).
    const calls = entries.filter((e) => e.kind === "call").map((e) => `${e.account_id}/${e.cdr_id}`);
    expect(new Set(calls).size, `${label}: a CDR debited twice`).toBe(calls.length);

    // No charge twice: one succeeded intent per request, each for a recorded request;
    // each auto-recharge credit is a distinct succeeded charge of its account.
    const requests = new Set(
      events.filter((e) => e.type === "auto_recharge_requested").map((e) => e.event_id),
    );
    const perEvent = new Map<string, number>();
    for (const intent of intentsAfter)
      perEvent.set(intent.metadata.event_id!, (perEvent.get(intent.metadata.event_id!) ?? 0) + 1);
    for (const [eventId, n] of perEvent) expect(n, `${label}: charges for request ${eventId}`).toBe(1);
    for (const intent of intentsBefore)
      expect(requests.has(intent.metadata.event_id!), `${label}: charge for an unrecorded request`).toBe(
        true,
      );
    const credits = entries.filter((e) => e.kind === "auto_recharge");
    expect(new Set(credits.map((c) => c.reference)).size, `${label}: a charge credited twice`).toBe(
      credits.length,
    );
    for (const c of credits) {
      const intent = intentsAfter.find((i) => i.id === c.reference);
      expect(intent?.metadata.account_id, `${label}: credit ${c.reference} without its charge`).toBe(
        c.account_id,
      );
      expect(BigInt(c.amount_micros)).toBe(BigInt(intent!.amount) * 10_000n);
    }

    // No good record in the dead-letter topic. Read before the CDRs sent: a rater still
    // running may dead-letter a record the flow sent after this check began.
    const deadLetters = await deadLettered();
    const bad = new Set(flow.sent.filter((c) => chargeOf(c) === undefined).map((c) => c.cdr_id));
    for (const id of deadLetters) expect(bad.has(id), `${label}: ${id} dead-lettered`).toBe(true);
  }

  async function checkAll(label: string): Promise<void> {
    await checkNow(label);
    expect(await s.callEntries(), `${label}: calls debited`).toBe(s.acceptedCount(flow.sent));
    const expected = s.expectedBalances(flow.sent);
    const succeeded = fake.intents.filter((i) => i.status === "succeeded");
    for (const account of s.accounts) {
      const charged = succeeded
        .filter((i) => i.metadata.account_id === account)
        .reduce((sum, i) => sum + BigInt(i.amount) * 10_000n, 0n);
      expect(await s.rig.ledgerBalance(account), `${label}: balance of ${account}`).toBe(
        expected.get(account)! + charged,
      );
      expect(await s.rig.balance(account), `${label}: Redis balance of ${account}`).toBe(
        expected.get(account)! + charged,
      );
    }
    // Every request charged once and credited once; nothing failed.
    expect(
      await count("select count(*) as n from ledger_entries where kind = 'auto_recharge'"),
      `${label}: auto-recharge credits`,
    ).toBe(succeeded.length);
    expect(
      await count("select count(*) as n from balance_events where type = 'auto_recharge_requested'"),
      `${label}: auto-recharge requests`,
    ).toBe(succeeded.length);
    expect(await count("select count(*) as n from balance_events where type = 'recharge_failed'")).toBe(0);
    expect(await count("select count(*) as n from balance_events where published_at is null")).toBe(0);

    const reconcile = await ratestream(["reconcile"], { env: { DATABASE_URL: s.rig.databaseUrl } });
    expect(reconcile.code, `${label}: reconcile\n${reconcile.stdout}${reconcile.stderr}`).toBe(0);
    expect(JSON.parse(reconcile.stdout)).toMatchObject({ drifted: 0 });

    // Every bad record (and only those) dead-lettered, at least once.
    const bad = new Set(flow.sent.filter((c) => chargeOf(c) === undefined).map((c) => c.cdr_id));
    expect(new Set(await deadLettered()), `${label}: dead letters`).toEqual(bad);

    // One email per emailed event; after a SIGKILL of the notify-worker, a resend keeps its Message-ID.
    const { rows: emailed } = await s.rig.pool.query<{ event_id: string }>(
      "select event_id from balance_events where type = any($1)",
      [[...EMAILED_TYPES]],
    );
    const byId = new Map<string, number>();
    for (const m of sink.messages) byId.set(m.messageId, (byId.get(m.messageId) ?? 0) + 1);
    for (const { event_id } of emailed) {
      const n = byId.get(`<${event_id}@ratestream>`) ?? 0;
      if (resendsAllowed) expect(n, `${label}: emails of ${event_id}`).toBeGreaterThanOrEqual(1);
      else expect(n, `${label}: emails of ${event_id}`).toBe(1);
    }
    expect(byId.size, `${label}: emails of events never recorded`).toBe(emailed.length);
  }

  /** What has not caught up yet, each named with its numbers (empty once everything has). */
  async function notCaughtUp(): Promise<string[]> {
    const unmet: string[] = [];
    const lag = async (group: string, topic: string) => {
      const ends = await s.admin.endOffsets(topic);
      const committed = new Map(
        (await s.admin.committedOffsets(group, topic)).map((p) => [p.partition, p.offset]),
      );
      return ends
        .filter((e) => e.offset !== "0" && committed.get(e.partition) !== e.offset)
        .map((e) => `p${e.partition} ${committed.get(e.partition) ?? "none"}/${e.offset}`);
    };
    const cdrLag = await lag(s.group, s.topics.cdrs).catch((e: Error) => [
      `offsets unreadable: ${e.message}`,
    ]);
    if (cdrLag.length > 0) unmet.push(`rater group on cdrs (committed/end) ${cdrLag.join(", ")}`);
    const unpublished = await count("select count(*) as n from balance_events where published_at is null");
    if (unpublished !== 0) unmet.push(`${unpublished} events unpublished`);
    const requested = await count(
      "select count(*) as n from balance_events where type = 'auto_recharge_requested'",
    );
    const credited = await count("select count(*) as n from ledger_entries where kind = 'auto_recharge'");
    if (requested !== credited) unmet.push(`${requested} auto-recharges requested, ${credited} credited`);
    for (const [kind, w] of Object.entries(workers)) {
      const behind = await lag(w.group, s.topics.balanceEvents).catch((e: Error) => [
        `unreadable: ${e.message}`,
      ]);
      if (behind.length > 0) unmet.push(`${kind}-worker on balance events ${behind.join(", ")}`);
    }
    return unmet;
  }

  return {
    s,
    redis,
    fake,
    sink,
    flow,
    autoAccounts,
    random,
    rater(fault) {
      const process = startRater({
        databaseUrl: s.rig.databaseUrl,
        topicPrefix: s.topicPrefix,
        group: s.group,
        fault,
      });
      scope.defer(() => process.stop("SIGKILL"));
      return process;
    },
    startWorker,
    allowEmailResends: () => void (resendsAllowed = true),
    async killWorker(kind) {
      await workers[kind]?.process.stop("SIGKILL");
      if (kind === "notify") resendsAllowed = true;
    },
    async quiesce(timeoutMs = 120_000, rater?: RaterProcess) {
      const deadline = Date.now() + timeoutMs;
      let stable = 0;
      let waitingFor: string[] = [];
      while (stable < 2) {
        if (Date.now() > deadline) {
          const logs = Object.entries(workers)
            .map(([k, w]) => `--- ${k}-worker:\n${w.process.output().slice(-3000)}`)
            .join("\n");
          const raterLog = rater ? `--- rater:\n${rater.output().slice(-6000)}\n` : "";
          throw new Error(
            `the rater and workers did not catch up within ${timeoutMs} ms; still waiting for: ` +
              `${waitingFor.join("; ")}\n${raterLog}${logs}`,
          );
        }
        waitingFor = await notCaughtUp();
        stable = waitingFor.length === 0 ? stable + 1 : 0;
        await sleep(250);
      }
    },
    checkNow,
    checkAll,
  };
}

/** Races a process's exit against a time-out. */
export async function exitWithin(
  process: RaterProcess,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | "alive"> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    process.exited,
    new Promise<"alive">((resolve) => (timer = setTimeout(() => resolve("alive"), ms))),
  ]);
  clearTimeout(timer);
  return result;
}
