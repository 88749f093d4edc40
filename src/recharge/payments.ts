/**
 * Charging a saved card: the one thing ratestream asks of a payment provider. Stripe
 * implements it (adapters/stripe); tests run it against a local fake of Stripe's HTTP API.
 */

export interface ChargeRequest {
  customerId: string;
  paymentMethodId: string;
  amountMicros: bigint;
  currency: string;
  /** Sent as Stripe's Idempotency-Key: the same key never charges twice (for about a day). */
  idempotencyKey: string;
  /** The customer is not present (auto-recharge): an authentication request is a failure. */
  offSession: boolean;
  description: string;
  metadata: Record<string, string>;
}

export type ChargeOutcome =
  | { status: "succeeded"; paymentIntentId: string }
  /** A final answer from the card: retrying would only storm it. */
  | { status: "declined"; paymentIntentId: string | null; reason: string }
  | { status: "requires_action"; paymentIntentId: string | null; reason: string };

/** What Stripe holds for one of our charge keys. */
export type ChargeLookup =
  | ChargeOutcome
  /** Stripe has not finished it yet: it will end succeeded or failed on its own. */
  | { status: "processing"; paymentIntentId: string }
  /** No PaymentIntent of this charge. */
  | { status: "absent" };

export interface ChargeQuery {
  /** Known once Stripe answered with it: then it is retrieved directly. */
  paymentIntentId: string | null;
  /** The customer the charge was sent for. */
  customerId: string;
  /** Our charge key, which every create carries as metadata.charge_key. */
  chargeKey: string;
  /** Metadata that also identifies this charge (creates made before charge_key was sent carried only these). */
  alsoMatch?: Record<string, string>;
  /** No PaymentIntent of this charge was created before this instant. */
  createdAfter: Date;
}

export interface CardPayments {
  /**
   * The customer to save cards on, created once per account: an existing customer of the
   * account is found first, so a retry after the idempotency key expired creates none.
   */
  createCustomer(accountId: string, email: string): Promise<string>;
  /** Attaches a payment method to the customer and makes it the default. */
  savePaymentMethod(customerId: string, paymentMethodId: string): Promise<void>;
  /**
   * Charges the card. Declines and authentication requests are outcomes; a provider
   * that cannot be reached throws a retryable RatestreamError (dependency_unavailable).
   */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /**
   * Asks the provider what became of a charge whose answer may have been lost (read-after-
   * write consistent: a PaymentIntent created before the call is found). Throws a
   * retryable RatestreamError when the provider cannot be reached.
   */
  findCharge(query: ChargeQuery): Promise<ChargeLookup>;
}

const MICROS_PER_CENT = 10_000n;

/** Card amounts are whole cents; recharge amounts have at most 2 decimals (SPEC §2). */
export function microsToCents(micros: bigint): number {
  if (micros <= 0n || micros % MICROS_PER_CENT !== 0n) {
    throw new RangeError(`a card charge must be a positive whole number of cents, not ${micros} micros`);
  }
  return Number(micros / MICROS_PER_CENT);
}
