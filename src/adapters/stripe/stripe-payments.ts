/**
 * CardPayments on Stripe: a customer per account, PaymentIntents confirmed at once.
 * STRIPE_API_BASE points the SDK elsewhere (tests use a local fake of the same API).
 *
 * What this relies on from Stripe (API v1):
 * - An Idempotency-Key is kept at least 24 hours: the same key within that time replays
 *   the first answer (500s included) and never creates a second object.
 * - A PaymentIntent's metadata is stored with it, so each create carries our charge key
 *   (metadata.charge_key) and a lost answer can be found again.
 * - Retrieve and list are read-after-write consistent; search is not (it lags writes by
 *   under a minute, up to an hour during an outage). Lost charges are therefore found
 *   by listing the customer's PaymentIntents, never by searching; customers, whose
 *   creation the idempotency key covers for 24 hours, are found by search.
 */
import Stripe from "stripe";
import { DependencyError, RatestreamError } from "../../errors.js";
import {
  microsToCents,
  type CardPayments,
  type ChargeLookup,
  type ChargeOutcome,
  type ChargeQuery,
  type ChargeRequest,
} from "../../recharge/payments.js";

/** Stripe's `created` and our clock may disagree by this much. */
const CLOCK_SKEW_S = 60 * 60;
const AUTHENTICATION_REASON = "the card issuer asks the customer to authenticate this payment";

export interface StripeOptions {
  secretKey: string;
  apiBase?: URL;
  /** Network retries inside the SDK (same Idempotency-Key, so never a second charge). */
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

export function createStripePayments(options: StripeOptions): CardPayments {
  const base = options.apiBase;
  const stripe = new Stripe(options.secretKey, {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    ...(base && {
      host: base.hostname,
      port: base.port || (base.protocol === "https:" ? 443 : 80),
      protocol: base.protocol === "https:" ? "https" : "http",
    }),
  });
  return new StripePayments(stripe);
}

class StripePayments implements CardPayments {
  constructor(private readonly stripe: Stripe) {}

  async createCustomer(accountId: string, email: string): Promise<string> {
    // Within 24 hours the idempotency key below returns the first customer; after that
    // the search finds it (its lag is far shorter than a day). The oldest one wins.
    const found = await this.call(() =>
      this.stripe.customers.search({ query: `metadata['account_id']:'${quoted(accountId)}'`, limit: 100 }),
    );
    const existing = found.data.sort((a, b) => a.created - b.created)[0];
    if (existing) return existing.id;
    const customer = await this.call(() =>
      this.stripe.customers.create(
        { email, metadata: { account_id: accountId } },
        { idempotencyKey: `customer:${accountId}` },
      ),
    );
    return customer.id;
  }

  async savePaymentMethod(customerId: string, paymentMethodId: string): Promise<void> {
    await this.call(() => this.stripe.paymentMethods.attach(paymentMethodId, { customer: customerId }));
    await this.call(() =>
      this.stripe.customers.update(customerId, {
        invoice_settings: { default_payment_method: paymentMethodId },
      }),
    );
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: microsToCents(request.amountMicros),
          currency: request.currency.toLowerCase(),
          customer: request.customerId,
          payment_method: request.paymentMethodId,
          confirm: true,
          off_session: request.offSession,
          description: request.description,
          metadata: request.metadata,
          // No redirect-based methods: the card is charged here or not at all.
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      const outcome = intentOutcome(intent);
      // A confirmed intent still processing is a charge whose outcome comes later: it
      // stays pending and is resolved by asking Stripe again.
      if (outcome.status === "processing") {
        throw new DependencyError("stripe", `Stripe: payment ${intent.id} is still processing`);
      }
      return outcome;
    } catch (err) {
      if (err instanceof Stripe.errors.StripeCardError) {
        const intentId = (err.payment_intent as { id?: string } | undefined)?.id ?? null;
        return failureOutcome(intentId, err);
      }
      if (err instanceof RatestreamError) throw err;
      throw asDependencyError(err);
    }
  }

  async findCharge(query: ChargeQuery): Promise<ChargeLookup> {
    if (query.paymentIntentId !== null) {
      const id = query.paymentIntentId;
      return intentOutcome(await this.call(() => this.stripe.paymentIntents.retrieve(id)));
    }
    const wanted = { charge_key: query.chargeKey, ...query.alsoMatch };
    const matches = await this.call(async () => {
      const found: Stripe.PaymentIntent[] = [];
      const since = Math.floor(query.createdAfter.getTime() / 1000) - CLOCK_SKEW_S;
      for await (const intent of this.stripe.paymentIntents.list({
        customer: query.customerId,
        created: { gte: since },
        limit: 100,
      })) {
        if (Object.entries(wanted).some(([k, v]) => intent.metadata[k] === v)) found.push(intent);
      }
      return found;
    });
    // One create per charge key, so normally one match; should there be more (charges
    // made before this code), a success is the one to credit.
    const rank = (i: Stripe.PaymentIntent) =>
      i.status === "succeeded" ? 0 : i.status === "processing" ? 1 : 2;
    const best = matches.sort((a, b) => rank(a) - rank(b) || b.created - a.created)[0];
    return best ? intentOutcome(best) : { status: "absent" };
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw asDependencyError(err);
    }
  }
}

/** What a PaymentIntent's status says about the charge. */
function intentOutcome(intent: Stripe.PaymentIntent): Exclude<ChargeLookup, { status: "absent" }> {
  switch (intent.status) {
    case "succeeded":
      return { status: "succeeded", paymentIntentId: intent.id };
    case "processing":
    case "requires_capture": // never asked for (automatic capture); money held, not yet final
      return { status: "processing", paymentIntentId: intent.id };
    case "requires_action":
      return { status: "requires_action", paymentIntentId: intent.id, reason: AUTHENTICATION_REASON };
    default: {
      const error = intent.last_payment_error;
      if (error) return failureOutcome(intent.id, error);
      return { status: "declined", paymentIntentId: intent.id, reason: `payment ended as ${intent.status}` };
    }
  }
}

function failureOutcome(
  paymentIntentId: string | null,
  error: { code?: string; decline_code?: string; message?: string },
): ChargeOutcome {
  if (error.code === "authentication_required") {
    return { status: "requires_action", paymentIntentId, reason: AUTHENTICATION_REASON };
  }
  return {
    status: "declined",
    paymentIntentId,
    reason: `card declined (${error.decline_code ?? error.code ?? "declined"}): ${error.message ?? "no message"}`,
  };
}

/** A value inside '…' in Stripe's search query language. */
function quoted(value: string): string {
  return value.replace(/[\\']/g, (c) => `\\${c}`);
}

/**
 * A request Stripe refused as malformed is a bug or bad data, not an outage: it is
 * reported as bad usage so nothing retries it forever. Everything else is retryable.
 */
function asDependencyError(err: unknown): RatestreamError {
  if (err instanceof Stripe.errors.StripeInvalidRequestError) {
    return new RatestreamError("bad_usage", `Stripe refused the request: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new DependencyError("stripe", `Stripe: ${message}`, { cause: err });
}
