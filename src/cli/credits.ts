import type { Command } from "commander";
import { bookManualEntry } from "../balances/manual-entry.js";
import { withStores } from "./context.js";
import * as parse from "./parse.js";

export function registerCreditCommands(program: Command): void {
  const credits = program.command("credits").description("the billing team's offline recharges");
  credits
    .command("add")
    .description("add credits by hand (offline recharge); idempotent per reference")
    .requiredOption("--account <id>", "account id", parse.accountId)
    .requiredOption("--amount <decimal>", "amount > 0, at most 2 decimals", parse.positiveAmount)
    .requiredOption(
      "--reference <text>",
      "the invoice reference; the same again changes nothing",
      parse.reference,
    )
    .action(async (o: { account: string; amount: bigint; reference: string }) => {
      const result = await withStores((ctx) =>
        bookManualEntry(ctx, {
          accountId: o.account,
          key: `credit:${o.reference}`,
          kind: "credit",
          amountMicros: o.amount,
          cause: o.reference,
          reference: o.reference,
        }),
      );
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });

  program
    .command("adjust")
    .description("a correction or refund, positive or negative; idempotent per reference")
    .requiredOption("--account <id>", "account id", parse.accountId)
    .requiredOption("--amount <signed decimal>", "non-zero, at most 2 decimals", parse.signedAmount)
    .requiredOption("--reason <text>", "why, for the ledger", parse.reference)
    .requiredOption("--reference <text>", "the same again changes nothing", parse.reference)
    .action(async (o: { account: string; amount: bigint; reason: string; reference: string }) => {
      const result = await withStores((ctx) =>
        bookManualEntry(ctx, {
          accountId: o.account,
          key: `adjust:${o.reference}`,
          kind: "adjustment",
          amountMicros: o.amount,
          cause: o.reference,
          reference: o.reference,
          details: { reason: o.reason },
        }),
      );
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}
