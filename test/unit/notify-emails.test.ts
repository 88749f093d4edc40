/** What the admin reads: subjects, exact amounts ("4.50 USD", "-1.234567 USD") and what to do. */
import { describe, expect, it } from "vitest";
import { composeEmail, EMAILED_TYPES, isEmailed, type EmailedType } from "../../src/notify/emails.js";
import type { BalanceEventMessage } from "../../src/pipeline/messages.js";

const account = { accountId: "acme", currency: "USD", rechargeMode: "online" as const };

function event(
  type: EmailedType,
  fields: Partial<BalanceEventMessage> = {},
): BalanceEventMessage & { type: EmailedType } {
  return {
    event_id: "ev_0123",
    type,
    account_id: "acme",
    balance_micros: 4_500_000,
    currency: "USD",
    amount_micros: null,
    occurred_at: "2026-05-14T09:30:00Z",
    cause: "c-1",
    ...fields,
  } as BalanceEventMessage & { type: EmailedType };
}

describe("composeEmail", () => {
  it("low balance: the balance, the 5.00 threshold, the 2.00 block and how to add credits", () => {
    const email = composeEmail(event("low_balance"), account);
    expect(email.subject).toBe("Low balance on acme: 4.50 USD");
    expect(email.text).toContain("has fallen below 5.00 USD");
    expect(email.text).toContain("Balance now: 4.50 USD");
    expect(email.text).toContain("Calls stop when the balance goes below 2.00 USD");
    expect(email.text).toContain("make a recharge of 5, 10 or 25 USD with your saved card");
  });

  it("an account on offline recharge is told the billing team adds credits", () => {
    const email = composeEmail(event("low_balance"), { ...account, rechargeMode: "offline" });
    expect(email.text).toContain("offline recharge: our billing team adds credits");
    expect(email.text).not.toContain("saved card");
  });

  it("blocked: calls stopped until credits bring the balance to 2.00; a negative balance exact to the micro", () => {
    const email = composeEmail(event("blocked", { balance_micros: -1_234_567 }), account);
    expect(email.subject).toBe("Account acme is blocked: calls stopped");
    expect(email.text).toContain("Balance now: -1.234567 USD");
    expect(email.text).toContain("cannot make or receive calls or buy phone numbers");
    expect(email.text).toContain("Calls resume as soon as credits bring the balance to 2.00 USD or more");
  });

  it("recharged: the amount, the new balance and the payment reference", () => {
    const email = composeEmail(
      event("recharged", { amount_micros: 25_000_000, balance_micros: 26_990_000, cause: "pi_123" }),
      account,
    );
    expect(email.subject).toBe("Credits added to acme: 25.00 USD");
    expect(email.text).toContain("25.00 USD was charged to your saved card");
    expect(email.text).toContain("Balance now: 26.99 USD");
    expect(email.text).toContain("Payment reference: pi_123");
  });

  it("recharge failed: the amount, the reason, and that a blocked account stays blocked", () => {
    const email = composeEmail(
      event("recharge_failed", {
        amount_micros: 10_000_000,
        balance_micros: 1_500_000,
        reason: "card_declined",
      }),
      account,
    );
    expect(email.subject).toBe("Recharge failed on acme");
    expect(email.text).toContain(
      "A recharge of 10.00 USD to the saved card of account acme did not go through: card_declined.",
    );
    expect(email.text).toContain("Balance now: 1.50 USD");
    expect(email.text).toContain("Check or replace the saved card");
    expect(email.text).toContain("cannot make or receive calls");
  });

  it("auto-recharge capped: online monthly limit and offline maximum, named by month", () => {
    const online = composeEmail(
      event("auto_recharge_capped", { amount_micros: 50_000_000, cause: "2026-05" }),
      account,
    );
    expect(online.subject).toBe("Auto-recharge limit reached on acme for May 2026");
    expect(online.text).toContain(
      "The auto-recharge of 50.00 USD was not made: it would pass the monthly limit",
    );
    expect(online.text).toContain("raise the monthly limit");

    const offline = composeEmail(
      event("auto_recharge_capped", { amount_micros: 100_000_000, cause: "offline:2026-12" }),
      account,
    );
    expect(offline.subject).toBe("Offline reload limit reached on acme for December 2026");
    expect(offline.text).toContain("The offline reload of 100.00 USD was not made");
    expect(offline.text).toContain("monthly maximum set by our billing team");
  });

  it("offline reloaded: names its invoice, amount and date", () => {
    const email = composeEmail(
      event("offline_reloaded", { amount_micros: 100_000_000, balance_micros: 199_654_321 }),
      account,
      {
        invoiceId: "inv_abc",
        amountMicros: 100_000_000n,
        currency: "USD",
        createdAt: new Date("2026-05-14T09:30:00Z"),
      },
    );
    expect(email.subject).toBe("Invoice inv_abc: 100.00 USD reloaded on acme");
    expect(email.text).toContain("100.00 USD was added to account acme");
    expect(email.text).toContain("Balance now: 199.654321 USD");
    expect(email.text).toContain("Invoice: inv_abc\nAmount: 100.00 USD\nDate: 2026-05-14");
  });

  it("amounts are in the account's currency", () => {
    const email = composeEmail(event("low_balance", { balance_micros: 4_000_000 }), {
      ...account,
      currency: "EUR",
    });
    expect(email.subject).toBe("Low balance on acme: 4.00 EUR");
    expect(email.text).toContain("below 5.00 EUR");
  });

  it("every email greets, and ends naming its event", () => {
    for (const type of EMAILED_TYPES) {
      const { text } = composeEmail(event(type), account);
      expect(text.startsWith("Hello,\n\n")).toBe(true);
      expect(text).toContain("(event ev_0123, 2026-05-14T09:30:00Z)");
      expect(text).not.toMatch(/undefined|null|NaN/);
    }
  });

  it("emails exactly the six types of the product rules", () => {
    expect(EMAILED_TYPES.filter(isEmailed)).toHaveLength(6);
    expect(isEmailed("unblocked")).toBe(false);
    expect(isEmailed("auto_recharge_requested")).toBe(false);
  });
});
