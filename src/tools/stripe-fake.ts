/**
 * A local fake of the few Stripe endpoints ratestream calls, at the HTTP level, for the
 * demo and the tests (no one can run Stripe locally). Shapes follow Stripe's API (v1):
 *
 *   POST /v1/customers, POST /v1/customers/:id, GET /v1/customers/search
 *   POST /v1/payment_methods/:id/attach
 *   POST /v1/payment_intents, GET /v1/payment_intents/:id, GET /v1/payment_intents (list)
 *
 * Like Stripe it honours Idempotency-Key on POSTs: the first answer of a key is saved once
 * the endpoint starts executing and replayed to every later request with that key,
 * 500s included; a second request while the first is still running is refused (409
 * idempotency_error), and so is a key reused with other parameters (400).
 * `forgetIdempotencyKeys()` drops every saved key, as Stripe does after 24 hours.
 *
 * Its test payment methods behave like Stripe's:
 *   pm_card_chargeDeclined          declined (402 card_error, generic_decline)
 *   pm_card_authenticationRequired  off-session: 402 authentication_required;
 *                                   on-session: 200 with status requires_action
 *   any other pm_…                  succeeds
 *
 * Faults (`fault()`), for the requests they match, in the order added:
 *   unavailable    answers 500 before doing anything (nothing saved: the request never
 *                  reached the endpoint)
 *   error_after    does the work, saves and answers a 500 (Stripe's "outcome unknown")
 *   lose_response  does the work and saves its answer, then drops the connection
 *                  without answering (the client sees ECONNRESET: a lost response)
 *   hang           does the work and saves its answer, but never answers (the client
 *                  times out)
 *   slow           waits `delayMs` (or until `until` settles) before doing the work,
 *                  then answers normally
 * `failNext(n)` is `unavailable` for the next n requests.
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
  /** Unix seconds, as Stripe's `created`. */
  created: number;
  last_payment_error: { type: string; code: string; decline_code: string; message: string } | null;
}

export interface FakeCustomer {
  id: string;
  email: string;
  default_payment_method: string | null;
  metadata: Record<string, string>;
  created: number;
}

export type FaultKind = "unavailable" | "error_after" | "lose_response" | "hang" | "slow";

export interface Fault {
  kind: FaultKind;
  /** Only requests with this method (GET, POST …); any when unset. */
  method?: string;
  /** Only requests whose path equals this string or matches this pattern; any when unset. */
  path?: string | RegExp;
  /** How many matching requests it hits (default 1; Infinity until cleared). */
  times?: number;
  /** `slow`: how long to wait before doing the work … */
  delayMs?: number;
  /** … or until this settles (a test's gate), instead. */
  until?: Promise<unknown>;
}

interface Answer {
  status: number;
  body: unknown;
}

interface Saved {
  answer: Answer;
  /** The request body the key was first used with. */
  params: string;
}

export class StripeFake {
  readonly intents: FakePaymentIntent[] = [];
  readonly customers = new Map<string, FakeCustomer>();
  /** Every request received, retries included: [method, path]. */
  readonly requests: [string, string][] = [];
  private readonly idempotent = new Map<string, Saved>();
  private readonly running = new Set<string>();
  private faults: (Fault & { left: number })[] = [];
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

  /** Adds a fault for the requests it matches (see the file's comment). */
  fault(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  failNext(requests: number): void {
    this.faults = this.faults.filter((f) => f.kind !== "unavailable");
    if (requests > 0) this.fault({ kind: "unavailable", times: requests });
  }

  /** Forgets every idempotency key, as Stripe does once they are 24 hours old. */
  forgetIdempotencyKeys(): void {
    this.idempotent.clear();
  }

  /** Succeeded charges, in cents, for one account (metadata.account_id). */
  chargedCents(accountId: string): number[] {
    return this.intents
      .filter((i) => i.status === "succeeded" && i.metadata.account_id === accountId)
      .map((i) => i.amount);
  }

  /** Customers created for one account (metadata.account_id). */
  customersOf(accountId: string): FakeCustomer[] {
    return [...this.customers.values()].filter((c) => c.metadata.account_id === accountId);
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const index = this.faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || (typeof f.path === "string" ? f.path === path : f.path.test(path))),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    if (--fault.left <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = req.method ?? "";
    const [path = "/", search = ""] = (req.url ?? "/").split("?");
    this.requests.push([method, path]);
    const send = ({ status, body }: Answer) => {
      res.writeHead(status, { "content-type": "application/json", "request-id": `req_${id()}` });
      res.end(JSON.stringify(body));
    };
    if (!/^Bearer sk_(test|live)_\w+$/.test(req.headers.authorization ?? "")) {
      return send(error(401, "invalid_request_error", "Invalid API Key provided"));
    }
    const fault = this.takeFault(method, path);
    if (fault?.kind === "unavailable") {
      return send(error(500, "api_error", "An unexpected error occurred (fake outage)."));
    }
    const params = Buffer.concat(chunks).toString("utf8");
    const key = req.headers["idempotency-key"];
    const idempotencyKey = method === "POST" && typeof key === "string" ? key : null;
    let answer: Answer;
    if (idempotencyKey && this.running.has(idempotencyKey)) {
      answer = error(
        409,
        "idempotency_error",
        "There is currently another in-progress request using this Stripe API Idempotency Key " +
          "(that probably means you submitted this request twice in a row). Try again later.",
      );
    } else if (idempotencyKey && this.idempotent.has(idempotencyKey)) {
      const saved = this.idempotent.get(idempotencyKey)!;
      answer =
        saved.params === params
          ? saved.answer
          : error(
              400,
              "idempotency_error",
              "Keys for idempotent requests can only be used with the same parameters they were first " +
                `used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            );
    } else {
      if (idempotencyKey) this.running.add(idempotencyKey);
      try {
        if (fault?.kind === "slow") {
          await (fault.until?.catch(() => undefined) ??
            new Promise((r) => setTimeout(r, fault.delayMs ?? 1_000)));
        }
        answer = this.route(
          method,
          path,
          new URLSearchParams(method === "GET" ? search : params),
          idempotencyKey,
        );
        if (fault?.kind === "error_after") {
          answer = error(500, "api_error", "An unexpected error occurred (fake, after doing the work).");
        }
        if (idempotencyKey) this.idempotent.set(idempotencyKey, { answer, params });
      } finally {
        if (idempotencyKey) this.running.delete(idempotencyKey);
      }
    }
    if (fault?.kind === "lose_response") {
      res.socket?.destroy();
      return;
    }
    if (fault?.kind === "hang") return; // the client gives up; stop() closes what is left
    send(answer);
  }

  private route(method: string, path: string, form: URLSearchParams, idempotencyKey: string | null): Answer {
    let m: RegExpExecArray | null;
    if (method === "POST" && path === "/v1/customers") {
      const customer: FakeCustomer = {
        id: `cus_${id()}`,
        email: form.get("email") ?? "",
        default_payment_method: null,
        metadata: metadataOf(form),
        created: unixNow(),
      };
      this.customers.set(customer.id, customer);
      return { status: 200, body: customerBody(customer) };
    }
    if (method === "GET" && path === "/v1/customers/search") return this.searchCustomers(form);
    if (method === "POST" && (m = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
      const customer = this.customers.get(m[1]!);
      if (!customer)
        return error(404, "invalid_request_error", `No such customer: '${m[1]}'`, "resource_missing");
      customer.default_payment_method =
        form.get("invoice_settings[default_payment_method]") ?? customer.default_payment_method;
      return { status: 200, body: customerBody(customer) };
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
    if (method === "GET" && path === "/v1/payment_intents") return this.listIntents(form);
    if (method === "GET" && (m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path))) {
      const intent = this.intents.find((i) => i.id === m![1]);
      if (!intent) {
        return error(404, "invalid_request_error", `No such payment_intent: '${m[1]}'`, "resource_missing");
      }
      return { status: 200, body: intentBody(intent) };
    }
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
    const intent: FakePaymentIntent = {
      id: `pi_${id()}`,
      customer,
      payment_method: paymentMethod,
      amount,
      currency: form.get("currency") ?? "usd",
      status: "succeeded",
      off_session: offSession,
      metadata: metadataOf(form),
      idempotency_key: idempotencyKey,
      created: unixNow(),
      last_payment_error: null,
    };
    this.intents.push(intent);
    if (paymentMethod === "pm_card_chargeDeclined") {
      intent.status = "requires_payment_method";
      intent.last_payment_error = {
        type: "card_error",
        code: "card_declined",
        decline_code: "generic_decline",
        message: "Your card was declined.",
      };
      return cardError(intent.last_payment_error, intentBody(intent));
    }
    if (paymentMethod === "pm_card_authenticationRequired") {
      if (offSession) {
        intent.status = "requires_payment_method";
        intent.last_payment_error = {
          type: "card_error",
          code: "authentication_required",
          decline_code: "authentication_required",
          message: "This payment requires authentication.",
        };
        return cardError(intent.last_payment_error, intentBody(intent));
      }
      intent.status = "requires_action";
    }
    return { status: 200, body: intentBody(intent) };
  }

  /** GET /v1/payment_intents: customer, created[gt|gte|lt|lte], limit, starting_after; newest first. */
  private listIntents(query: URLSearchParams): Answer {
    const limit = Number(query.get("limit") ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return error(400, "invalid_request_error", "Invalid integer: limit must be between 1 and 100");
    }
    const customer = query.get("customer");
    const bounds: [string, (created: number, bound: number) => boolean][] = [
      ["gt", (c, b) => c > b],
      ["gte", (c, b) => c >= b],
      ["lt", (c, b) => c < b],
      ["lte", (c, b) => c <= b],
    ];
    let matching = [...this.intents].reverse().filter((i) => {
      if (customer !== null && i.customer !== customer) return false;
      const exact = query.get("created");
      if (exact !== null && i.created !== Number(exact)) return false;
      return bounds.every(([op, test]) => {
        const bound = query.get(`created[${op}]`);
        return bound === null || test(i.created, Number(bound));
      });
    });
    const after = query.get("starting_after");
    if (after !== null) {
      const index = matching.findIndex((i) => i.id === after);
      if (index < 0) {
        return error(400, "invalid_request_error", `No such payment_intent: '${after}'`, "resource_missing");
      }
      matching = matching.slice(index + 1);
    }
    return {
      status: 200,
      body: {
        object: "list",
        url: "/v1/payment_intents",
        has_more: matching.length > limit,
        data: matching.slice(0, limit).map(intentBody),
      },
    };
  }

  /**
   * GET /v1/customers/search: clauses `email:'…'` and `metadata['key']:'value'` joined by
   * AND, the subset of Stripe's query language ratestream uses. Stripe's search lags
   * writes (under a minute normally); the fake answers at once.
   */
  private searchCustomers(query: URLSearchParams): Answer {
    const text = query.get("query") ?? "";
    const clauses = text.split(/\s+AND\s+/);
    const tests: ((c: FakeCustomer) => boolean)[] = [];
    for (const clause of clauses) {
      let m: RegExpExecArray | null;
      if ((m = /^metadata\['([^']+)'\]:'([^']*)'$/.exec(clause.trim()))) {
        const [, key, value] = m;
        tests.push((c) => c.metadata[key!] === value);
      } else if ((m = /^email:'([^']*)'$/.exec(clause.trim()))) {
        const [, value] = m;
        tests.push((c) => c.email === value);
      } else {
        return error(400, "invalid_request_error", `The fake cannot parse this search query: ${text}`);
      }
    }
    const data = [...this.customers.values()].filter((c) => tests.every((t) => t(c))).reverse();
    const limit = Number(query.get("limit") ?? 10);
    return {
      status: 200,
      body: {
        object: "search_result",
        url: "/v1/customers/search",
        has_more: data.length > limit,
        next_page: null,
        data: data.slice(0, limit).map(customerBody),
      },
    };
  }
}

function id(): string {
  return randomBytes(12).toString("hex");
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [k, v] of form) {
    const meta = /^metadata\[(.+)\]$/.exec(k);
    if (meta) metadata[meta[1]!] = v;
  }
  return metadata;
}

function intentBody(intent: FakePaymentIntent): unknown {
  const { idempotency_key: _key, off_session: _offSession, ...fields } = intent;
  return { object: "payment_intent", livemode: false, ...fields };
}

function customerBody(customer: FakeCustomer): unknown {
  return {
    object: "customer",
    id: customer.id,
    email: customer.email,
    created: customer.created,
    metadata: customer.metadata,
    livemode: false,
    invoice_settings: { default_payment_method: customer.default_payment_method },
  };
}

function error(status: number, type: string, message: string, code?: string): Answer {
  return { status, body: { error: { type, message, ...(code && { code }) } } };
}

function cardError(
  failure: { code: string; decline_code: string; message: string },
  intent: unknown,
): Answer {
  return {
    status: 402,
    body: {
      error: {
        type: "card_error",
        code: failure.code,
        decline_code: failure.decline_code,
        message: failure.message,
        payment_intent: intent,
      },
    },
  };
}
