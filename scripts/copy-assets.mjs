// The build copies the SQL migrations and Lua scripts next to the compiled code that reads them.
import { cpSync } from "node:fs";

cpSync("src/adapters/postgres/migrations", "dist/adapters/postgres/migrations", { recursive: true });
cpSync("src/adapters/redis/scripts", "dist/adapters/redis/scripts", { recursive: true });
