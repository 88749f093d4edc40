/**
 * A local SMTP server that keeps what it receives, for the demo and the tests: no TLS,
 * no authentication, every message accepted and parsed. `rejectRecipient` makes it
 * refuse chosen addresses with a permanent 550, as a real server refuses a dead mailbox.
 * `replyDelayMs` holds the final "250 OK" back after a message is kept, as a slow server
 * does: a message can be here while its sender still waits for the answer.
 */
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

export interface SunkMessage {
  /** The envelope recipients (RCPT TO). */
  to: string[];
  /** The From header as written. */
  from: string;
  subject: string;
  text: string;
  /** With its angle brackets, e.g. "<ev_…@ratestream>". */
  messageId: string;
}

export class SmtpSink {
  readonly messages: SunkMessage[] = [];
  private server: SMTPServer | undefined;

  constructor(
    private readonly options: { rejectRecipient?: (address: string) => boolean; replyDelayMs?: number } = {},
  ) {}

  /** Starts on 127.0.0.1 and returns the SMTP_URL that reaches it. */
  async start(port = 0): Promise<string> {
    const options: SMTPServerOptions & { lenientAddressParsing: boolean } = {
      authOptional: true,
      // Any address with an @, as test accounts have (admin@acct_1a2b.example); not in @types yet.
      lenientAddressParsing: true,
      disabledCommands: ["AUTH", "STARTTLS"],
      logger: false,
      closeTimeout: 1_000,
      onRcptTo: (address, _session, callback) => {
        if (this.options.rejectRecipient?.(address.address)) {
          callback(Object.assign(new Error(`mailbox ${address.address} unavailable`), { responseCode: 550 }));
        } else {
          callback();
        }
      },
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (mail) => {
            this.messages.push({
              to: session.envelope.rcptTo.map((r) => r.address),
              from: mail.from?.text ?? "",
              subject: mail.subject ?? "",
              text: mail.text ?? "",
              messageId: mail.messageId ?? "",
            });
            const delay = this.options.replyDelayMs ?? 0;
            if (delay > 0) setTimeout(() => callback(), delay);
            else callback();
          },
          (err: Error) => callback(err),
        );
      },
    };
    const server = new SMTPServer(options);
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    this.server = server;
    return this.url;
  }

  get url(): string {
    return `smtp://127.0.0.1:${(this.server!.server.address() as AddressInfo).port}`;
  }

  /** Waits until a received message satisfies the predicate and returns it. */
  async waitFor(predicate: (m: SunkMessage) => boolean, timeoutMs = 30_000): Promise<SunkMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching email within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
