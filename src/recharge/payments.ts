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
}

const MICROS_PER_CENT = 10_000n;

/** Card amounts are whole cents; recharge amounts have at most 2 decimals (SPEC §2). */
export function microsToCents(micros: bigint): number {
  if (micros <= 0n || micros % MICROS_PER_CENT !== 0n) {
    throw new RangeError(`a card charge must be a positive whole number of cents, not ${micros} micros`);
  }
  return Number(micros / MICROS_PER_CENT);
}
