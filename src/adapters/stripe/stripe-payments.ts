/**
 * CardPayments on Stripe: a customer per account, PaymentIntents confirmed at once.
 * STRIPE_API_BASE points the SDK elsewhere (tests use a local fake of the same API).
 */
import Stripe from "stripe";
import { RatestreamError } from "../../errors.js";
import {
  microsToCents,
  type CardPayments,
  type ChargeOutcome,
  type ChargeRequest,
} from "../../recharge/payments.js";

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
    // a search by metadata finds it. Search lags writes (under a minute normally, up to
    // an hour during an outage), far less than the key's 24 hours. The oldest one wins.
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
      if (intent.status === "succeeded") return { status: "succeeded", paymentIntentId: intent.id };
      if (intent.status === "requires_action") {
        return {
          status: "requires_action",
          paymentIntentId: intent.id,
          reason: "the card issuer asks the customer to authenticate this payment",
        };
      }
      return {
        status: "declined",
        paymentIntentId: intent.id,
        reason: `payment ended as ${intent.status}`,
      };
    } catch (err) {
      if (err instanceof Stripe.errors.StripeCardError) {
        const intentId = (err.payment_intent as { id?: string } | undefined)?.id ?? null;
        if (err.code === "authentication_required") {
          return {
            status: "requires_action",
            paymentIntentId: intentId,
            reason: "the card issuer asks the customer to authenticate this payment",
          };
        }
        return {
          status: "declined",
          paymentIntentId: intentId,
          reason: `card declined (${err.decline_code ?? err.code ?? "declined"}): ${err.message}`,
        };
      }
      throw asDependencyError(err);
    }
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw asDependencyError(err);
    }
  }
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
  return new RatestreamError("dependency_unavailable", `Stripe: ${message}`, { cause: err });
}
