/**
 * Email over SMTP (nodemailer), one connection per message. Failures split in two:
 *   - the server refused this recipient or message for good (a 5xx reply to RCPT TO or
 *     DATA, or an address it can never take): MailRejected. Retrying would get the same
 *     answer, so the caller logs it and moves on.
 *   - anything else (refused connection, timeout, a 4xx, an authentication or sender
 *     problem the operator can fix): a retryable dependency_unavailable, so the event
 *     waits with backoff and nothing is lost.
 */
import { createTransport } from "nodemailer";
import { DependencyError } from "../../errors.js";

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  /** With angle brackets; messageIdFor() gives it. */
  messageId: string;
}

export interface Mailer {
  send(email: OutgoingEmail): Promise<void>;
  /** Connects (and authenticates) without sending: the readiness check. */
  verify(): Promise<void>;
  close(): void;
}

/** The Message-ID of an event's email: a resend after a crash is recognisably the same message. */
export function messageIdFor(eventId: string): string {
  return `<${eventId}@ratestream>`;
}

/** The server refused the message for good; retrying would not help. */
export class MailRejected extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MailRejected";
  }
}

export function createSmtpMailer(url: URL, from: string): Mailer {
  const transport = createTransport({
    url: url.href,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(email) {
      try {
        await transport.sendMail({ from, ...email });
      } catch (err) {
        throw classify(err);
      }
    },
    async verify() {
      try {
        await transport.verify();
      } catch (err) {
        throw classify(err);
      }
    },
    close: () => transport.close(),
  };
}

function classify(err: unknown): Error {
  const e = err as { code?: string; command?: string; permanent?: boolean; message?: string };
  const refusedForGood =
    (e.permanent === true && (e.command === "RCPT TO" || e.command === "DATA")) ||
    // nodemailer's own check of the envelope: an address no server could take.
    (e.code === "EENVELOPE" && e.command === "API");
  if (refusedForGood) return new MailRejected(`SMTP server refused the email: ${e.message}`, { cause: err });
  return new DependencyError("smtp", `SMTP server unavailable: ${e.message ?? String(err)}`, {
    cause: err,
  });
}
