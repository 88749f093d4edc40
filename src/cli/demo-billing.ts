/**
 * The billing side of `ratestream demo`: a local Stripe fake and SMTP sink, the
 * recharge and notification workers as child processes, three showcase accounts set up
 * through the HTTP API and the billing team's settings, and what came of them.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { RatestreamError } from "../errors.js";
import type { KafkaAdmin } from "../adapters/kafka/types.js";
import { groupCaughtUp } from "../adapters/kafka/offsets.js";
import { createApiKey, updateAccount } from "../adapters/postgres/accounts.js";
import { copySettingsToStore } from "../balances/settings.js";
import type { WritePathDeps } from "../balances/write-path.js";
import { formatAmount } from "../core/money.js";
import { SmtpSink } from "../tools/smtp-sink.js";
import { StripeFake } from "../tools/stripe-fake.js";

const BIN = fileURLToPath(new URL("../../bin/ratestream.js", import.meta.url));

export interface Child {
  name: string;
  port: number;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** A `ratestream` sub-command as a child process, its log on our stderr at error level. */
export function startChild(name: string, args: string[], port: number, env: Record<string, string>): Child {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, HTTP_PORT: String(port), LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    name,
    port,
    exited,
    stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Waits for /readyz; fails early if the child exits. */
export async function waitReady(child: Child): Promise<void> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  for (let i = 0; i < 300; i++) {
    if (gone) throw new RatestreamError("dependency_unavailable", `the ${child.name} exited during start-up`);
    const ok = await fetch(`http://127.0.0.1:${child.port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  throw new RatestreamError("dependency_unavailable", `the ${child.name} was not ready within 30 s`);
}

export interface BillingFakes {
  stripe: StripeFake;
  smtp: SmtpSink;
  /** The environment every child gets: Stripe and SMTP pointed at the fakes. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startBillingFakes(): Promise<BillingFakes> {
  const stripe = new StripeFake();
  const smtp = new SmtpSink();
  await stripe.start();
  await smtp.start();
  return {
    stripe,
    smtp,
    env: { STRIPE_SECRET_KEY: "sk_test_ratestreamdemo", STRIPE_API_BASE: stripe.url, SMTP_URL: smtp.url },
    async stop() {
      await stripe.stop();
      await smtp.stop();
    },
  };
}

export interface Showcase {
  /** Online auto-recharge of 25.00 on a good card, set by its admin through the API. */
  autoRecharge: string;
  /** The same on a card that declines. */
  declined: string;
  /** Offline auto-recharge set by the billing team: 100.00 each time it reaches 20.00. */
  offline: string;
}

/** Sets up the showcase accounts; the rater (with its HTTP API) must be running on apiPort. */
export async function setUpShowcase(
  pool: pg.Pool,
  write: Pick<WritePathDeps, "store" | "ledger" | "logger">,
  apiPort: number,
  showcase: Showcase,
): Promise<void> {
  const cards: [string, string][] = [
    [showcase.autoRecharge, "pm_card_visa"],
    [showcase.declined, "pm_card_chargeDeclined"],
  ];
  for (const [accountId, card] of cards) {
    const { api_key } = await createApiKey(pool, "admin", accountId);
    const call = async (path: string, body: unknown) => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/v1/accounts/${accountId}/${path}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${api_key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) {
        throw new RatestreamError(
          "bad_usage",
          `PUT ${path} for ${accountId}: ${res.status} ${await res.text()}`,
        );
      }
    };
    await call("payment-method", { stripe_payment_method: card });
    await call("auto-recharge", { enabled: true, amount: "25.00", monthly_limit: "100.00" });
  }
  const offline = await updateAccount(pool, showcase.offline, {
    rechargeMode: "offline",
    offline: { reloadMicros: 100_000_000n, thresholdMicros: 20_000_000n, monthlyMaxMicros: 300_000_000n },
  });
  await copySettingsToStore(write, showcase.offline, offline!.settings);
}

/**
 * Waits until both workers have read every balance event and nothing waits in the
 * outbox, twice in a row (a recharge publishes further events).
 */
export async function waitForWorkers(
  admin: KafkaAdmin,
  pool: pg.Pool,
  accounts: string[],
  topic: string,
  groups: string[],
  timeoutMs = 60_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    const backlog = await pool.query<{ n: string }>(
      "select count(*) as n from balance_events where account_id = any($1::text[]) and published_at is null",
      [accounts],
    );
    const caughtUp = await Promise.all(groups.map((g) => groupCaughtUp(admin, g, topic)));
    quiet = Number(backlog.rows[0]!.n) === 0 && caughtUp.every(Boolean) ? quiet + 1 : 0;
    if (quiet >= 3) return true;
    await sleep(500);
  }
  return false;
}

export async function billingSummary(
  pool: pg.Pool,
  accounts: string[],
  showcase: Showcase,
  fakes: BillingFakes,
  say: (line: string) => void,
): Promise<void> {
  say("== billing");
  for (const [label, accountId] of Object.entries(showcase)) {
    const { rows } = await pool.query<{ type: string; n: string }>(
      `select type, count(*) as n from balance_events where account_id = $1 group by type order by type`,
      [accountId],
    );
    const balance = await pool.query<{ sum: string }>(
      "select coalesce(sum(amount_micros), 0) as sum from ledger_entries where account_id = $1",
      [accountId],
    );
    say(
      `${label.padEnd(13)} ${accountId}: balance ${formatAmount(BigInt(balance.rows[0]!.sum))}; ` +
        rows.map((r) => `${r.type} ${r.n}`).join(", "),
    );
  }
  const intents = fakes.stripe.intents;
  const succeeded = intents.filter((i) => i.status === "succeeded");
  say(
    `card charges:        ${succeeded.length} succeeded (${formatAmount(BigInt(succeeded.reduce((n, i) => n + i.amount, 0)) * 10_000n)}), ${intents.length - succeeded.length} refused, at the Stripe fake ${fakes.stripe.url}`,
  );
  const mails = fakes.smtp.messages;
  const sent = await pool.query<{ type: string; n: string }>(
    `select e.type, count(*) as n from notifications_sent n join balance_events e using (event_id)
      where n.account_id = any($1::text[]) and n.status = 'sent' group by e.type order by e.type`,
    [accounts],
  );
  say(
    `emails:              ${mails.length} delivered to the SMTP sink ${fakes.smtp.url}: ` +
      sent.rows.map((r) => `${r.type} ${r.n}`).join(", "),
  );
  const showcaseAddresses = Object.values(showcase).map((id: string) => `admin@${id}.example`);
  for (const m of mails.filter((m) => m.to.some((to) => showcaseAddresses.includes(to)))) {
    say(`  to ${m.to.join(", ")}: ${m.subject}`);
  }
}
