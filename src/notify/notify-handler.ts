/**
 * The notify-worker's handler: one email to the account admin per emailed balance
 * event, across redeliveries and restarts. notifications_sent, keyed by event_id, is
 * the record: a row is claimed ('sending') before the send and marked 'sent' after it.
 *
 * A crash between the send and the mark leaves the claim at 'sending', and the
 * redelivered event sends again, once, with the same Message-ID (<event_id@ratestream>)
 * so mail clients and people can tell it is the same message. SMTP has no idempotent
 * send, so at-least-once with a recognisable duplicate is the best it allows.
 */
import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import { MailRejected, messageIdFor, type Mailer } from "../adapters/smtp/mailer.js";
import type { Logger } from "../observability/logger.js";
import type { BalanceEventHandler, WorkerMetrics } from "../workers/balance-event-worker.js";
import {
  claimNotification,
  firstInvoiceFor,
  markNotificationSent,
  notificationAccount,
} from "../adapters/postgres/notifications.js";
import { composeEmail, isEmailed } from "./emails.js";

export interface NotifyDeps {
  pool: pg.Pool;
  mailer: Mailer;
  logger: Logger;
  metrics: WorkerMetrics;
  emails: Counter<"outcome">;
}

export function createEmailCounter(registry: Registry): Counter<"outcome"> {
  return new Counter({
    name: "ratestream_notify_emails_total",
    help: "Emails of balance events: sent, duplicate (already sent, not sent again), rejected (refused by the SMTP server for good).",
    labelNames: ["outcome"],
    registers: [registry],
  });
}

export function createNotifyHandler(deps: NotifyDeps): BalanceEventHandler {
  const { pool, mailer, logger, metrics, emails } = deps;
  return async (event) => {
    const type = event.type;
    if (!isEmailed(type)) {
      metrics.handled.inc({ type, outcome: "ignored" });
      return;
    }
    if (event.amount_micros != null && !Number.isSafeInteger(event.amount_micros)) {
      metrics.handled.inc({ type, outcome: "malformed" });
      logger.error({ event }, "amount_micros is not an integer; no email");
      return;
    }
    const account = await notificationAccount(pool, event.account_id);
    if (!account) {
      metrics.handled.inc({ type, outcome: "failed" });
      logger.error({ event }, "balance event of an unknown account; no email");
      return;
    }
    const invoice =
      type === "offline_reloaded" ? await firstInvoiceFor(pool, event.account_id, event.cause) : undefined;
    if (type === "offline_reloaded" && !invoice) logger.warn({ event }, "offline reload without its invoice");
    const email = composeEmail({ ...event, type }, account, invoice);
    const messageId = messageIdFor(event.event_id);

    const claimed = await claimNotification(pool, {
      eventId: event.event_id,
      accountId: event.account_id,
      recipient: account.adminEmail,
      subject: email.subject,
      messageId,
    });
    if (!claimed) {
      emails.inc({ outcome: "duplicate" });
      metrics.handled.inc({ type, outcome: "ignored" });
      logger.debug({ eventId: event.event_id }, "email already sent");
      return;
    }
    try {
      await mailer.send({ to: account.adminEmail, messageId, ...email });
    } catch (err) {
      if (!(err instanceof MailRejected)) throw err;
      // The claim stays 'sending': should the address be corrected, a redelivery sends it.
      emails.inc({ outcome: "rejected" });
      metrics.handled.inc({ type, outcome: "failed" });
      logger.error({ err, eventId: event.event_id, to: account.adminEmail }, "email refused; moving on");
      return;
    }
    await markNotificationSent(pool, event.event_id);
    emails.inc({ outcome: "sent" });
    metrics.handled.inc({ type, outcome: "handled" });
  };
}
