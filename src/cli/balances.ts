import type { Command } from "commander";
import { RatestreamError } from "../errors.js";
import { listAccountIds } from "../adapters/postgres/accounts.js";
import { currentBalance } from "../balances/current-balance.js";
import { checkAccount, type AccountCheck } from "../balances/reconcile.js";
import { BLOCK_THRESHOLD_MICROS } from "../core/balance-rules.js";
import { utcMonth } from "../balances/types.js";
import { restoreFromLedger } from "../balances/write-path.js";
import { withStores, type StoresContext } from "./context.js";
import * as parse from "./parse.js";

const PAGE = 500;

async function* allAccounts(ctx: StoresContext): AsyncGenerator<string> {
  for (let after = ""; ;) {
    const page = await listAccountIds(ctx.pool, after, PAGE);
    yield* page;
    if (page.length < PAGE) return;
    after = page.at(-1)!;
  }
}

/** Loads an account into Redis from the ledger if Redis does not hold it. */
async function ensureLoaded(ctx: StoresContext, accountId: string): Promise<void> {
  if ((await restoreFromLedger(ctx, accountId, utcMonth(new Date()))) === "unknown") {
    throw new RatestreamError("bad_usage", `no account "${accountId}"`);
  }
}

export function registerBalanceCommands(program: Command): void {
  const balances = program.command("balances").description("real-time balances");
  balances
    .command("show")
    .description("an account's balance as the rater sees it")
    .requiredOption("--account <id>", "account id", parse.accountId)
    .action(async (o: { account: string }) => {
      const shown = await withStores(async (ctx) => {
        const balance = await currentBalance(ctx, o.account);
        if (balance === undefined) throw new RatestreamError("bad_usage", `no account "${o.account}"`);
        return {
          account_id: o.account,
          balance_micros: Number(balance),
          blocked: balance < BLOCK_THRESHOLD_MICROS,
        };
      });
      process.stdout.write(`${JSON.stringify(shown)}\n`);
    });

  balances
    .command("rebuild")
    .description("restore every account's Redis state from the ledger")
    .action(async () => {
      const rebuilt = await withStores(async (ctx) => {
        let count = 0;
        for await (const accountId of allAccounts(ctx)) {
          await ctx.store.forget(accountId);
          await ensureLoaded(ctx, accountId);
          count++;
        }
        return count;
      });
      process.stdout.write(`${JSON.stringify({ accounts_rebuilt: rebuilt })}\n`);
    });

  program
    .command("reconcile")
    .description(
      "check every account's Redis balance against the ledger, and for changes stranded in Redis; exit 1 on either",
    )
    .option(
      "--stranded-after-s <seconds>",
      "report changes pending in Redis longer than this",
      parse.seconds,
      60,
    )
    .action(async (o: { strandedAfterS: number }) => {
      const strandedAfterMs = parse.toMs(o.strandedAfterS);
      const summary = await withStores(async (ctx) => {
        const drifted: AccountCheck[] = [];
        const stranded: AccountCheck[] = [];
        let checked = 0;
        let notLoaded = 0;
        for await (const accountId of allAccounts(ctx)) {
          const check = await checkAccount(ctx.store, ctx.ledger, accountId, { strandedAfterMs });
          checked++;
          if (check.status === "not_loaded") notLoaded++;
          if (check.status === "drift") drifted.push(check);
          if (check.status === "stranded") stranded.push(check);
        }
        return {
          accounts_checked: checked,
          not_loaded: notLoaded,
          drifted: drifted.length,
          drift: drifted,
          stranded: stranded.length,
          stranded_accounts: stranded,
        };
      });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (summary.drifted > 0 || summary.stranded > 0) process.exitCode = 1;
    });
}
