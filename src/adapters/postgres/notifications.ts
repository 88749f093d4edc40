/**
 * notifications_sent, the notify-worker's record of each event's email (claimed
 * 'sending' before the send, 'sent' after), and the account and invoice an email names.
 */
import type pg from "pg";
import type { EmailAccount, EmailInvoice } from "../../notify/emails.js";

/** The account an email goes to, or undefined if there is no such account. */
export async function notificationAccount(
  pool: pg.Pool,
  accountId: string,
): Promise<(EmailAccount & { adminEmail: string }) | undefined> {
  const { rows } = await pool.query<{
    admin_email: string;
    currency: string;
    recharge_mode: "online" | "offline";
  }>("select admin_email, currency, recharge_mode from accounts where account_id = $1", [accountId]);
  const row = rows[0];
  return (
    row && { accountId, adminEmail: row.admin_email, currency: row.currency, rechargeMode: row.recharge_mode }
  );
}

/** The first invoice of an account for a cause (an offline reload's key). */
export async function firstInvoiceFor(
  pool: pg.Pool,
  accountId: string,
  cause: string,
): Promise<EmailInvoice | undefined> {
  const { rows } = await pool.query<{
    invoice_id: string;
    amount_micros: string;
    currency: string;
    created_at: Date;
  }>(
    "select invoice_id, amount_micros, currency, created_at from invoices where account_id = $1 and cause = $2 order by created_at limit 1",
    [accountId, cause],
  );
  const row = rows[0];
  return (
    row && {
      invoiceId: row.invoice_id,
      amountMicros: BigInt(row.amount_micros),
      currency: row.currency,
      createdAt: row.created_at,
    }
  );
}

/**
 * True when this event's email is ours to send: a new claim, or one left at 'sending'
 * (refreshed with the current address). False when it was already sent.
 */
export async function claimNotification(
  pool: pg.Pool,
  c: { eventId: string; accountId: string; recipient: string; subject: string; messageId: string },
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `insert into notifications_sent (event_id, account_id, recipient, subject, status, message_id)
     values ($1, $2, $3, $4, 'sending', $5)
     on conflict (event_id) do update
       set recipient = excluded.recipient, subject = excluded.subject, claimed_at = now()
       where notifications_sent.status = 'sending'`,
    [c.eventId, c.accountId, c.recipient, c.subject, c.messageId],
  );
  return rowCount === 1;
}

/** The email of this event was sent: a redelivery finds it and sends nothing. */
export async function markNotificationSent(pool: pg.Pool, eventId: string): Promise<void> {
  await pool.query("update notifications_sent set status = 'sent', sent_at = now() where event_id = $1", [
    eventId,
  ]);
}
