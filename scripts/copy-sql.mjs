// The build copies the SQL migrations next to the compiled code that reads them.
import { cpSync } from "node:fs";

cpSync("src/adapters/postgres/migrations", "dist/adapters/postgres/migrations", { recursive: true });
