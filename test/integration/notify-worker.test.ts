/**
 * `ratestream notify-worker` as a child process on the real Kafka and Postgres, sending
 * to a real SMTP server (the smtp-sink): one email per event, to the admin, with exact
 * amounts; duplicates, restarts, a SIGKILL with full redelivery and an SMTP outage send
 * no second email and lose none.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { KafkaProducer } from "../../src/adapters/kafka/types.js";
import { balanceEventId } from "../../src/balances/event-id.js";
import type { BalanceEventType } from "../../src/balances/types.js";
import { balanceEventMessage, type BalanceEventMessage } from "../../src/pipeline/messages.js";
import { topicNames } from "../../src/pipeline/topics.js";
import { SmtpSink } from "../../src/tools/smtp-sink.js";
import { balanceRig, type BalanceRig } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { eventually, metric, startCommand, waitReady, type RaterProcess } from "../support/rater.js";
import { Scope, uniqueName } from "../support/services.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

interface NotifyRig {
  rig: BalanceRig;
  sink: SmtpSink;
  smtpUrl: string;
  topicPrefix: string;
  producer: KafkaProducer;
  send(...events: BalanceEventMessage[]): Promise<void>;
}

/** A schema, a one-partition balance-events topic (so events are handled in the order sent) and a sink. */
async function notifyRig(sinkOptions: { replyDelayMs?: number } = {}): Promise<NotifyRig> {
  const rig = await balanceRig(scope);
  const topicPrefix = `${uniqueName("notify")}.`;
  const topic = topicNames(topicPrefix).balanceEvents;
  const admin = await scope.admin();
  await admin.createTopics([{ topic, partitions: 1 }]);
  scope.defer(() => admin.deleteTopics([topic]));
  const producer = await scope.kafka().producer();
  scope.defer(() => producer.disconnect());
  const sink = new SmtpSink({ rejectRecipient: (address) => address.startsWith("bounce@"), ...sinkOptions });
  const smtpUrl = await sink.start();
  scope.defer(() => sink.stop());
  return {
    rig,
    sink,
    smtpUrl,
    topicPrefix,
    producer,
    send: (...events) => producer.send(topic, events.map(balanceEventMessage)),
  };
}

function startNotifyWorker(n: NotifyRig, group: string): RaterProcess {
  const worker = startCommand(
    ["notify-worker", "--topic-prefix", n.topicPrefix, "--group", group, "--partitions", "1"],
    { DATABASE_URL: n.rig.databaseUrl, SMTP_URL: n.smtpUrl },
  );
  scope.defer(() => worker.stop("SIGKILL"));
  return worker;
}

function balanceEvent(
  type: BalanceEventType,
  accountId: string,
  cause: string,
  balanceMicros: number,
  amountMicros: number | null = null,
  reason?: string,
): BalanceEventMessage {
  return {
    event_id: balanceEventId(type, accountId, cause),
    type,
    account_id: accountId,
    balance_micros: balanceMicros,
    currency: "USD",
    amount_micros: amountMicros,
    occurred_at: "2026-05-14T09:30:00Z",
    cause,
    ...(reason ? { reason } : {}),
  };
}

const idOf = (e: BalanceEventMessage) => `<${e.event_id}@ratestream>`;

/**
 * Waits for the email of an event and for the worker to record it as sent (the sink
 * has a message before its sender has the answer); on a time-out, fails with the log.
 */
async function emailOf(n: NotifyRig, worker: RaterProcess, event: BalanceEventMessage): Promise<void> {
  const withLog = (err: Error) => {
    throw new Error(`${err.message} (${event.type}); worker log:\n${worker.output()}`);
  };
  await n.sink.waitFor((m) => m.messageId === idOf(event)).catch(withLog);
  await eventually(
    async () => {
      const { rows } = await n.rig.pool.query<{ status: string }>(
        "select status from notifications_sent where event_id = $1",
        [event.event_id],
      );
      return rows[0]?.status === "sent";
    },
    30_000,
    `the worker to record the ${event.type} email as sent`,
  ).catch(withLog);
}

describe("ratestream notify-worker", () => {
  it("emails each emailed type once to the admin with exact amounts; ignores, skips and de-duplicates the rest", async () => {
    // The sink answers each message 300 ms after it has it, so the test must wait for the
    // worker's own record of the last email, not for the sink (an earlier flake).
    const n = await notifyRig({ replyDelayMs: 300 });
    const acct = await n.rig.newAccount();
    const bounced = await n.rig.newAccount();
    await n.rig.pool.query("update accounts set admin_email = $2 where account_id = $1", [
      bounced,
      `bounce@${bounced}.example`,
    ]);
    await n.rig.pool.query(
      "insert into invoices (invoice_id, account_id, amount_micros, currency, cause) values ($1, $2, $3, 'USD', $4)",
      ["inv_test_1", acct, 100_000_000, "reload-1"],
    );
    const low = balanceEvent("low_balance", acct, "c-1", 4_990_000);
    const blocked = balanceEvent("blocked", acct, "c-2", -1_234_567);
    const emailed = [
      low,
      blocked,
      balanceEvent("recharge_failed", acct, "pi_fail", -1_234_567, 10_000_000, "card_declined"),
      balanceEvent("recharged", acct, "pi_ok", 23_765_433, 25_000_000),
      balanceEvent("auto_recharge_capped", acct, "2026-05", 4_500_000, 50_000_000),
      balanceEvent("offline_reloaded", acct, "reload-1", 104_500_000, 100_000_000),
    ];
    const others = [
      balanceEvent("unblocked", acct, "pi_ok", 23_765_433),
      balanceEvent("auto_recharge_requested", acct, "c-3", 4_500_000, 25_000_000),
      balanceEvent("low_balance", "no-such-account", "c-9", 4_000_000),
      balanceEvent("low_balance", bounced, "c-4", 4_000_000),
    ];
    const marker = balanceEvent("low_balance", acct, "marker", 4_000_000);

    const worker = startNotifyWorker(n, uniqueName("g"));
    await waitReady(worker);
    // Each of the first two twice: once in the same batch, once after the rest.
    await n.send(low, low, ...emailed.slice(1), ...others, blocked);
    await n.send(marker);
    await emailOf(n, worker, marker);

    expect(n.sink.messages.map((m) => m.messageId).sort()).toEqual([...emailed, marker].map(idOf).sort());
    const admin = `admin@${acct}.example`;
    for (const m of n.sink.messages) {
      expect(m.to).toEqual([admin]);
      expect(m.from).toBe('"ratestream billing" <billing@ratestream.local>');
    }
    const mail = (e: BalanceEventMessage) => n.sink.messages.find((m) => m.messageId === idOf(e))!;
    expect(mail(low).subject).toBe(`Low balance on ${acct}: 4.99 USD`);
    expect(mail(blocked).subject).toBe(`Account ${acct} is blocked: calls stopped`);
    expect(mail(blocked).text).toContain("Balance now: -1.234567 USD");
    expect(mail(emailed[2]!).text).toContain("A recharge of 10.00 USD");
    expect(mail(emailed[2]!).text).toContain("card_declined");
    expect(mail(emailed[3]!).subject).toBe(`Credits added to ${acct}: 25.00 USD`);
    expect(mail(emailed[3]!).text).toContain("Balance now: 23.765433 USD");
    expect(mail(emailed[4]!).subject).toBe(`Auto-recharge limit reached on ${acct} for May 2026`);
    expect(mail(emailed[4]!).text).toContain("The auto-recharge of 50.00 USD was not made");
    expect(mail(emailed[5]!).subject).toBe(`Invoice inv_test_1: 100.00 USD reloaded on ${acct}`);
    expect(mail(emailed[5]!).text).toContain("Invoice: inv_test_1\nAmount: 100.00 USD");
    expect(mail(emailed[5]!).text).toContain("Balance now: 104.50 USD");

    const { rows } = await n.rig.pool.query<{ status: string; n: string }>(
      "select status, count(*) as n from notifications_sent group by status order by status",
    );
    // The refused address keeps its claim at 'sending'.
    expect(rows).toEqual([
      { status: "sending", n: "1" },
      { status: "sent", n: "7" },
    ]);
    // The counter moves just after the row: wait for it, then it must be exactly 7.
    await eventually(
      async () => (await metric(worker, `ratestream_notify_emails_total{outcome="sent"}`)) >= 7,
      10_000,
      "the sent counter",
    );
    expect(await metric(worker, `ratestream_notify_emails_total{outcome="sent"}`)).toBe(7);
    expect(await metric(worker, `ratestream_notify_emails_total{outcome="duplicate"}`)).toBe(2);
    expect(await metric(worker, `ratestream_notify_emails_total{outcome="rejected"}`)).toBe(1);
    expect(await metric(worker, `ratestream_worker_events_total{type="unblocked",outcome="ignored"}`)).toBe(
      1,
    );
    expect(await worker.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  });

  it("a restart (SIGTERM) and a SIGKILL with every event redelivered send no second email", async () => {
    const n = await notifyRig();
    const acct = await n.rig.newAccount();
    const first = [
      balanceEvent("low_balance", acct, "c-1", 4_000_000),
      balanceEvent("blocked", acct, "c-2", 1_000_000),
      balanceEvent("recharged", acct, "pi_1", 11_000_000, 10_000_000),
    ];
    const group = uniqueName("g");
    let worker = startNotifyWorker(n, group);
    await waitReady(worker);
    await n.send(...first);
    await emailOf(n, worker, first[2]!);
    expect(await worker.stop("SIGTERM")).toEqual({ code: 0, signal: null });

    // Same group: the producer sends the same events again, then a new one.
    const second = balanceEvent("low_balance", acct, "c-3", 4_500_000);
    worker = startNotifyWorker(n, group);
    await waitReady(worker);
    await n.send(...first, second);
    await emailOf(n, worker, second);
    await worker.stop("SIGKILL");

    // A new group reads the topic from the start: every event is delivered again. `third`
    // was claimed by a worker that died before sending: it is sent, once.
    const third = balanceEvent("blocked", acct, "c-4", 1_500_000);
    await n.rig.pool.query(
      `insert into notifications_sent (event_id, account_id, recipient, subject, status, message_id)
       values ($1, $2, 'admin@old.example', 'old subject', 'sending', $3)`,
      [third.event_id, acct, idOf(third)],
    );
    await n.send(third);
    worker = startNotifyWorker(n, uniqueName("g"));
    await waitReady(worker);
    await emailOf(n, worker, third);
    await eventually(
      async () => (await metric(worker, `ratestream_notify_emails_total{outcome="duplicate"}`)) === 7,
      30_000,
      "the redelivered events to be seen as duplicates",
    );
    expect(n.sink.messages.map((m) => m.messageId).sort()).toEqual(
      [...first, second, third].map(idOf).sort(),
    );
    const { rows } = await n.rig.pool.query(
      "select recipient, status from notifications_sent where event_id = $1",
      [third.event_id],
    );
    expect(rows).toEqual([{ recipient: `admin@${acct}.example`, status: "sent" }]);
  });

  it("with the SMTP server down at first, retries and delivers once it is up, each email once", async () => {
    const n = await notifyRig();
    const acct = await n.rig.newAccount();
    const events = [
      balanceEvent("low_balance", acct, "c-1", 4_000_000),
      balanceEvent("blocked", acct, "c-2", 1_999_999),
    ];
    const port = Number(new URL(n.smtpUrl).port);
    await n.sink.stop();

    const worker = startNotifyWorker(n, uniqueName("g"));
    await eventually(
      async () =>
        (await fetch(`http://127.0.0.1:${worker.port}/healthz`).catch(() => undefined))?.ok === true,
      30_000,
      "the worker to serve /healthz",
    );
    await n.send(...events);
    await eventually(
      async () => (await metric(worker, "ratestream_dependency_errors_total{")) >= 2,
      30_000,
      "failed sends while the SMTP server is down",
    );
    expect((await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status).toBe(503);
    expect(n.sink.messages).toEqual([]);

    await n.sink.start(port);
    await emailOf(n, worker, events[1]!);
    expect(n.sink.messages.map((m) => m.messageId)).toEqual(events.map(idOf));
    expect(n.sink.messages[1]!.text).toContain("Balance now: 1.999999 USD");
    await waitReady(worker);
  });

  it.each([
    [{ SMTP_URL: "" }, "SMTP_URL"],
    [{ SMTP_URL: "smtp://127.0.0.1:1", SMTP_FROM: "billing" }, "SMTP_FROM"],
  ])("refuses to start with %j: exit 2 naming %s", async (env, variable) => {
    const result = await ratestream(["notify-worker"], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(variable);
  });
});
