/**
 * The emails the account admin gets about balance events (SPEC §1.4, §1.7-§1.11): plain
 * text saying what happened, the amounts exactly (formatAmount: "4.50 USD",
 * "-1.234567 USD") in the account's currency, and what to do next. Pure: no I/O.
 */
import { BLOCK_THRESHOLD_MICROS, LOW_BALANCE_THRESHOLD_MICROS } from "../core/balance-rules.js";
import { formatAmount } from "../core/money.js";
import type { BalanceEventMessage } from "../pipeline/messages.js";

export const EMAILED_TYPES = [
  "low_balance",
  "blocked",
  "recharged",
  "recharge_failed",
  "auto_recharge_capped",
  "offline_reloaded",
] as const;
export type EmailedType = (typeof EMAILED_TYPES)[number];

export function isEmailed(type: string): type is EmailedType {
  return (EMAILED_TYPES as readonly string[]).includes(type);
}

export interface EmailAccount {
  accountId: string;
  currency: string;
  rechargeMode: "online" | "offline";
}

export interface EmailInvoice {
  invoiceId: string;
  amountMicros: bigint;
  currency: string;
  createdAt: Date;
}

export interface Email {
  subject: string;
  text: string;
}

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** The subject and text for an emailed event; `invoice` for an offline_reloaded one. */
export function composeEmail(
  event: BalanceEventMessage & { type: EmailedType },
  account: EmailAccount,
  invoice?: EmailInvoice,
): Email {
  const money = (micros: bigint | number) => formatAmount(BigInt(micros), account.currency);
  const id = account.accountId;
  const balance = `Balance now: ${money(event.balance_micros)}`;
  const amount = event.amount_micros === null ? undefined : money(event.amount_micros);
  const blockAt = money(BLOCK_THRESHOLD_MICROS);
  const addCredits =
    account.rechargeMode === "offline"
      ? "Your account is on offline recharge: our billing team adds credits and sends you an invoice. To add credits sooner, reply to this email."
      : `To add credits, make a recharge of 5, 10 or 25 ${account.currency} with your saved card (larger amounts through support), or turn on auto-recharge.`;

  let subject: string;
  let body: string[];
  switch (event.type) {
    case "low_balance":
      subject = `Low balance on ${id}: ${money(event.balance_micros)}`;
      body = [
        `The balance of account ${id} has fallen below ${money(LOW_BALANCE_THRESHOLD_MICROS)}.`,
        balance,
        `Calls stop when the balance goes below ${blockAt}. ${addCredits}`,
      ];
      break;
    case "blocked":
      subject = `Account ${id} is blocked: calls stopped`;
      body = [
        `The balance of account ${id} has fallen below ${blockAt}, so the account is blocked: it cannot make or receive calls or buy phone numbers.`,
        balance,
        `Calls resume as soon as credits bring the balance to ${blockAt} or more. ${addCredits}`,
      ];
      break;
    case "recharged":
      subject = `Credits added to ${id}: ${amount ?? "recharge"}`;
      body = [
        `${amount ?? "A recharge"} was charged to your saved card and added to account ${id}.`,
        balance,
        `Payment reference: ${event.cause}`,
      ];
      break;
    case "recharge_failed":
      subject = `Recharge failed on ${id}`;
      body = [
        `A recharge${amount ? ` of ${amount}` : ""} to the saved card of account ${id} did not go through: ${event.reason ?? "no reason given"}. No credits were added.`,
        balance,
        `Check or replace the saved card, then recharge again.${
          BigInt(event.balance_micros) < BLOCK_THRESHOLD_MICROS
            ? ` Until credits bring the balance to ${blockAt} or more the account cannot make or receive calls.`
            : ""
        }`,
      ];
      break;
    case "auto_recharge_capped": {
      // cause: "YYYY-MM" for the online monthly limit, "offline:YYYY-MM" for the offline maximum.
      const offline = event.cause.startsWith("offline:");
      const month = monthName(event.cause.replace(/^offline:/, ""));
      const what = offline ? "offline reload" : "auto-recharge";
      const limit = offline ? "monthly maximum set by our billing team" : "monthly limit";
      subject = `${offline ? "Offline reload" : "Auto-recharge"} limit reached on ${id} for ${month}`;
      body = [
        `The ${what}${amount ? ` of ${amount}` : ""} was not made: it would pass the ${limit} of account ${id} for ${month}. No further ${what}s will be made this month.`,
        balance,
        offline
          ? "To raise the maximum or add credits now, reply to this email."
          : `To keep calling, recharge by hand (5, 10 or 25 ${account.currency}) or raise the monthly limit in the auto-recharge settings.`,
      ];
      break;
    }
    case "offline_reloaded":
      subject = invoice
        ? `Invoice ${invoice.invoiceId}: ${money(invoice.amountMicros)} reloaded on ${id}`
        : `Credits reloaded on ${id}: ${amount ?? "offline reload"}`;
      body = [
        `${amount ?? "An offline reload"} was added to account ${id}: its balance reached the reload threshold set by our billing team.`,
        balance,
        invoice
          ? [
              `Invoice: ${invoice.invoiceId}`,
              `Amount: ${formatAmount(invoice.amountMicros, invoice.currency)}`,
              `Date: ${invoice.createdAt.toISOString().slice(0, 10)}`,
              "It is payable on the terms agreed with our billing team.",
            ].join("\n")
          : "The invoice follows from our billing team.",
      ];
      break;
  }
  const footer = `This is an automatic notice from ratestream (event ${event.event_id}, ${event.occurred_at}).`;
  return { subject, text: ["Hello,", ...body, footer].join("\n\n") + "\n" };
}

/** "2026-05" → "May 2026"; anything else as it is. */
function monthName(yyyyMm: string): string {
  const match = /^(\d{4})-(\d{2})$/.exec(yyyyMm);
  const name = match ? MONTHS[Number(match[2]) - 1] : undefined;
  return name ? `${name} ${match![1]}` : yyyyMm;
}
