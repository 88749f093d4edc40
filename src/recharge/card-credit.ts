import type { EntryRequest } from "../balances/types.js";

/**
 * The ledger entry for a successful card charge: keyed by the payment id, so crediting
 * the same payment twice (a redelivery, a retry after a crash) changes nothing. It
 * announces `recharged`; an auto-recharge credit that leaves the balance at or below
 * 5.00 also requests the next one (SPEC §1.7), decided by the balance script.
 */
export function cardCreditRequest(charge: {
  accountId: string;
  paymentIntentId: string;
  amountMicros: bigint;
  purpose: "auto_recharge" | "manual_recharge";
  chargeKey: string;
}): EntryRequest {
  return {
    accountId: charge.accountId,
    key: `recharge:${charge.paymentIntentId}`,
    kind: charge.purpose === "auto_recharge" ? "auto_recharge" : "recharge",
    amountMicros: charge.amountMicros,
    cause: charge.paymentIntentId,
    reference: charge.paymentIntentId,
    announces: "recharged",
    details: { charge_key: charge.chargeKey },
  };
}
