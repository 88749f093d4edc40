/**
 * A local fake of the few Stripe endpoints ratestream calls, at the HTTP level, for the
 * demo and the tests (no one can run Stripe locally). Like Stripe it honours
 * Idempotency-Key (the same key replays the first answer), and its test payment
 * methods behave like Stripe's:
 *   pm_card_chargeDeclined          declined (402 card_error, generic_decline)
 *   pm_card_authenticationRequired  off-session: 402 authentication_required;
 *                                   on-session: 200 with status requires_action
 *   any other pm_…                  succeeds
 * `failNext(n)` answers the next n requests with 500, to exercise retries.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakePaymentIntent {
  id: string;
  customer: string;
  payment_method: string;
  amount: number;
  currency: string;
  status: "succeeded" | "requires_action" | "requires_payment_method";
  off_session: boolean;
  metadata: Record<string, string>;
  idempotency_key: string | null;
}

interface Answer {
  status: number;
  body: unknown;
}

export class StripeFake {
  readonly intents: FakePaymentIntent[] = [];
  readonly customers = new Map<
    string,
    { id: string; email: string; default_payment_method: string | null }
  >();
  /** Every request received, retries included: [method, path]. */
  readonly requests: [string, string][] = [];
  private readonly idempotent = new Map<string, Answer>();
  private failures = 0;
  private server: Server | undefined;

  /** Starts on 127.0.0.1; `url` is what STRIPE_API_BASE should be. */
  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, "127.0.0.1", resolve);
    });
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  failNext(requests: number): void {
    this.failures = requests;
  }

  /** Succeeded charges, in cents, for one account (metadata.account_id). */
  chargedCents(accountId: string): number[] {
    return this.intents
      .filter((i) => i.status === "succeeded" && i.metadata.account_id === accountId)
      .map((i) => i.amount);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? "/").split("?")[0]!;
    this.requests.push([req.method ?? "", path]);
    const send = ({ status, body }: Answer) => {
      res.writeHead(status, { "content-type": "application/json", "request-id": `req_${id()}` });
      res.end(JSON.stringify(body));
    };
    if (!/^Bearer sk_(test|live)_\w+$/.test(req.headers.authorization ?? "")) {
      return send(error(401, "invalid_request_error", "Invalid API Key provided"));
    }
    if (this.failures > 0) {
      this.failures--;
      return send(error(500, "api_error", "An unexpected error occurred (fake outage)."));
    }
    const key = req.headers["idempotency-key"];
    const idempotencyKey = typeof key === "string" ? key : null;
    if (idempotencyKey && this.idempotent.has(idempotencyKey))
      return send(this.idempotent.get(idempotencyKey)!);
    const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    const answer = this.route(req.method ?? "", path, form, idempotencyKey);
    if (idempotencyKey && answer.status !== 500) this.idempotent.set(idempotencyKey, answer);
    send(answer);
  }

  private route(method: string, path: string, form: URLSearchParams, idempotencyKey: string | null): Answer {
    let m: RegExpExecArray | null;
    if (method === "POST" && path === "/v1/customers") {
      const customer = { id: `cus_${id()}`, email: form.get("email") ?? "", default_payment_method: null };
      this.customers.set(customer.id, customer);
      return { status: 200, body: { object: "customer", ...customer } };
    }
    if (method === "POST" && (m = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
      const customer = this.customers.get(m[1]!);
      if (!customer)
        return error(404, "invalid_request_error", `No such customer: '${m[1]}'`, "resource_missing");
      customer.default_payment_method =
        form.get("invoice_settings[default_payment_method]") ?? customer.default_payment_method;
      return { status: 200, body: { object: "customer", ...customer } };
    }
    if (method === "POST" && (m = /^\/v1\/payment_methods\/([^/]+)\/attach$/.exec(path))) {
      if (!m[1]!.startsWith("pm_")) {
        return error(404, "invalid_request_error", `No such PaymentMethod: '${m[1]}'`, "resource_missing");
      }
      const customer = form.get("customer") ?? "";
      if (!this.customers.has(customer)) {
        return error(404, "invalid_request_error", `No such customer: '${customer}'`, "resource_missing");
      }
      return { status: 200, body: { id: m[1], object: "payment_method", type: "card", customer } };
    }
    if (method === "POST" && path === "/v1/payment_intents") return this.createIntent(form, idempotencyKey);
    return error(404, "invalid_request_error", `Unrecognized request URL (${method}: ${path})`);
  }

  private createIntent(form: URLSearchParams, idempotencyKey: string | null): Answer {
    const amount = Number(form.get("amount"));
    if (!Number.isInteger(amount) || amount < 50) {
      return error(400, "invalid_request_error", "Amount must be at least 50 cents", "amount_too_small");
    }
    const customer = form.get("customer") ?? "";
    if (!this.customers.has(customer)) {
      return error(400, "invalid_request_error", `No such customer: '${customer}'`, "resource_missing");
    }
    const paymentMethod = form.get("payment_method") ?? "";
    const offSession = form.get("off_session") === "true";
    const metadata: Record<string, string> = {};
    for (const [k, v] of form) {
      const meta = /^metadata\[(.+)\]$/.exec(k);
      if (meta) metadata[meta[1]!] = v;
    }
    const intent: FakePaymentIntent = {
      id: `pi_${id()}`,
      customer,
      payment_method: paymentMethod,
      amount,
      currency: form.get("currency") ?? "usd",
      status: "succeeded",
      off_session: offSession,
      metadata,
      idempotency_key: idempotencyKey,
    };
    this.intents.push(intent);
    const body = () => ({ object: "payment_intent", ...intent });
    if (paymentMethod === "pm_card_chargeDeclined") {
      intent.status = "requires_payment_method";
      return cardError("card_declined", "generic_decline", "Your card was declined.", body());
    }
    if (paymentMethod === "pm_card_authenticationRequired") {
      if (offSession) {
        intent.status = "requires_payment_method";
        return cardError(
          "authentication_required",
          "authentication_required",
          "This payment requires authentication.",
          body(),
        );
      }
      intent.status = "requires_action";
    }
    return { status: 200, body: body() };
  }
}

function id(): string {
  return randomBytes(12).toString("hex");
}

function error(status: number, type: string, message: string, code?: string): Answer {
  return { status, body: { error: { type, message, ...(code && { code }) } } };
}

function cardError(code: string, declineCode: string, message: string, intent: unknown): Answer {
  return {
    status: 402,
    body: { error: { type: "card_error", code, decline_code: declineCode, message, payment_intent: intent } },
  };
}
