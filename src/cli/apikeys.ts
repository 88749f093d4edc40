import type { Command } from "commander";
import { RatestreamError } from "../errors.js";
import {
  API_KEY_ROLES,
  createApiKey,
  getAccount,
  listApiKeys,
  revokeApiKey,
  type ApiKeyRole,
} from "../adapters/postgres/accounts.js";
import { withDatabase } from "./database.js";
import * as parse from "./parse.js";

export function registerApiKeyCommands(program: Command): void {
  const apikeys = program.command("apikeys").description("API keys (stored hashed; shown once)");
  apikeys
    .command("create")
    .description("create a key: admin or agent of one account, or switch (every account)")
    .requiredOption("--role <role>", "admin, agent or switch", (v: string) => {
      if (!API_KEY_ROLES.includes(v as ApiKeyRole))
        throw new RatestreamError("bad_usage", "--role: must be admin, agent or switch");
      return v as ApiKeyRole;
    })
    .option(
      "--account <id>",
      "the account (required for admin and agent, refused for switch)",
      parse.accountId,
    )
    .action(async (o: { role: ApiKeyRole; account?: string }) => {
      if (o.role === "switch" && o.account)
        throw new RatestreamError("bad_usage", "a switch key serves every account: drop --account");
      if (o.role !== "switch" && !o.account)
        throw new RatestreamError("bad_usage", `an ${o.role} key needs --account`);
      const created = await withDatabase(async (pool) => {
        if (o.account && !(await getAccount(pool, o.account)))
          throw new RatestreamError("bad_usage", `no account "${o.account}"`);
        return createApiKey(pool, o.role, o.account ?? null);
      });
      process.stdout.write(`${JSON.stringify(created)}\n`);
      process.stderr.write("Store the api_key now: it is kept only as a hash and cannot be shown again.\n");
    });

  apikeys
    .command("list")
    .description("list keys (never the keys themselves)")
    .option("--account <id>", "only this account's keys", parse.accountId)
    .action(async (o: { account?: string }) => {
      for (const key of await withDatabase((pool) => listApiKeys(pool, o.account))) {
        process.stdout.write(`${JSON.stringify(key)}\n`);
      }
    });

  apikeys
    .command("revoke")
    .description("revoke a key by its id")
    .argument("<key-id>", "the key_id that create printed")
    .action(async (keyId: string) => {
      const result = await withDatabase((pool) => revokeApiKey(pool, keyId));
      if (result === "unknown") throw new RatestreamError("bad_usage", `no API key "${keyId}"`);
      process.stdout.write(
        `${JSON.stringify({ key_id: keyId, revoked: true, already: result === "already" })}\n`,
      );
    });
}
