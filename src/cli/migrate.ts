import type { Command } from "commander";
import { migrate } from "../adapters/postgres/migrate.js";
import { withDatabase } from "./database.js";

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("apply the database migrations not yet applied (safe to run at any time, and concurrently)")
    .action(async () => {
      const applied = await withDatabase((pool) => migrate(pool));
      process.stdout.write(`${JSON.stringify({ applied })}\n`);
    });
}
