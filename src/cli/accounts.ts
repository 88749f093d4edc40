import type { Command } from "commander";
import type pg from "pg";
import { DEFAULT_PLAN } from "../adapters/postgres/rate-versions.js";
import { RatestreamError } from "../errors.js";
import {
  createAccount,
  getAccount,
  planHasVersion,
  updateAccount,
  type AccountChanges,
} from "../adapters/postgres/accounts.js";
import { copySettingsToStore } from "../balances/settings.js";
import { withStores } from "./context.js";
import { withDatabase } from "./database.js";
import * as parse from "./parse.js";

export function registerAccountCommands(program: Command): void {
  const accounts = program.command("accounts").description("prepaid accounts");

  accounts
    .command("create")
    .description("create an account; it holds 0.00 and so starts blocked")
    .requiredOption("--id <id>", "account id (1-64 of A-Z a-z 0-9 _ -)", parse.accountId)
    .requiredOption("--admin-email <email>", "where invoices, receipts and notices go", parse.email)
    .option("--trial", "a trial account (no auto-recharge)", false)
    .option(
      "--plan <name>",
      "the rate plan that prices its calls and numbers (default: default)",
      parse.planName,
    )
    .action(async (o: { id: string; adminEmail: string; trial: boolean; plan?: string }) => {
      const created = await withDatabase(async (pool) => {
        if (o.plan !== undefined) await refuseVersionlessPlan(pool, o.plan);
        return createAccount(pool, {
          accountId: o.id,
          adminEmail: o.adminEmail,
          trial: o.trial,
          plan: o.plan,
        });
      });
      if (!created) throw new RatestreamError("bad_usage", `account "${o.id}" already exists`);
      print({
        account_id: o.id,
        admin_email: o.adminEmail,
        trial: o.trial,
        plan: o.plan ?? DEFAULT_PLAN,
        balance_micros: "0",
        blocked: true,
      });
    });

  accounts
    .command("set")
    .description("the billing team's settings for an account")
    .requiredOption("--id <id>", "account id", parse.accountId)
    .option("--trial <bool>", "true or false", parse.bool)
    .option("--admin-email <email>", "the admin's registered email", parse.email)
    .option("--recharge-mode <mode>", "online or offline", (v: string) => {
      if (v !== "online" && v !== "offline")
        throw new RatestreamError("bad_usage", "--recharge-mode: must be online or offline");
      return v;
    })
    .option(
      "--offline-reload <amount>",
      "offline auto-recharge: amount reloaded each time",
      parse.positiveAmount,
    )
    .option(
      "--offline-threshold <amount>",
      "offline auto-recharge: reload when the balance reaches this",
      parse.nonNegativeAmount,
    )
    .option(
      "--offline-monthly-max <amount>",
      "offline auto-recharge: most reloaded in a calendar month",
      parse.positiveAmount,
    )
    .option(
      "--plan <name>",
      "move the account to this rate plan: CDRs processed from now on are priced by it",
      parse.planName,
    )
    .action(
      async (o: {
        id: string;
        plan?: string;
        trial?: boolean;
        adminEmail?: string;
        rechargeMode?: "online" | "offline";
        offlineReload?: bigint;
        offlineThreshold?: bigint;
        offlineMonthlyMax?: bigint;
      }) => {
        const offlineGiven = [o.offlineReload, o.offlineThreshold, o.offlineMonthlyMax].filter(
          (v) => v !== undefined,
        );
        if (offlineGiven.length !== 0 && offlineGiven.length !== 3) {
          throw new RatestreamError(
            "bad_usage",
            "--offline-reload, --offline-threshold and --offline-monthly-max go together",
          );
        }
        if (o.offlineMonthlyMax !== undefined && o.offlineMonthlyMax < o.offlineReload!) {
          throw new RatestreamError("bad_usage", "--offline-monthly-max must be at least --offline-reload");
        }
        const changes: AccountChanges = {
          trial: o.trial,
          adminEmail: o.adminEmail,
          rechargeMode: o.rechargeMode,
          plan: o.plan,
        };
        if (offlineGiven.length === 3) {
          changes.offline = {
            reloadMicros: o.offlineReload!,
            thresholdMicros: o.offlineThreshold!,
            monthlyMaxMicros: o.offlineMonthlyMax!,
          };
        }
        const updated = await withStores(async (ctx) => {
          const { pool } = ctx;
          const current = await getAccount(pool, o.id);
          if (!current) throw new RatestreamError("bad_usage", `no account "${o.id}"`);
          if (o.plan !== undefined) await refuseVersionlessPlan(pool, o.plan);
          if (changes.offline && (o.trial ?? current.trial)) {
            throw new RatestreamError(
              "bad_usage",
              "offline auto-recharge is not available on trial accounts",
            );
          }
          const result = (await updateAccount(pool, o.id, changes))!;
          // Postgres holds the settings; Redis gets a copy so its scripts decide alone.
          await copySettingsToStore(ctx, o.id, result.settings);
          return result.row;
        });
        print(updated);
      },
    );
}

/** SPEC §10: an account is only put on a plan that has an imported version. */
async function refuseVersionlessPlan(pool: pg.Pool, plan: string): Promise<void> {
  if (!(await planHasVersion(pool, plan))) {
    throw new RatestreamError(
      "bad_usage",
      `plan "${plan}" has no rate version: import one first (ratestream rates import --plan ${plan} --rates …)`,
    );
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
