// Lint: type-aware rules for promises (a dropped promise loses an error or a debit)
// and no import cycles (the core must not reach back into the adapters).
import tseslint from "typescript-eslint";
import { importX } from "eslint-plugin-import-x";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "bin/", ".scratch/"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "import-x/no-cycle": "error",
    },
  },
  {
    // The pure core (decode, rate, money) does no I/O: it may not import Node's I/O modules or adapters.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*", "fs", "net", "http", "child_process"], message: "src/core is pure: no I/O." },
            {
              group: ["**/adapters/**", "kafkajs", "ioredis", "pg"],
              message: "src/core may not depend on adapters.",
            },
          ],
        },
      ],
    },
  },
  {
    // SQL lives in src/adapters/postgres, behind named functions. Elsewhere `pg` is only a
    // type (a pool handed in and passed on), never imported as a value (a client, a pool
    // made by hand: createPool is the adapter's), and no `.query("…")` runs a statement.
    files: ["src/**/*.ts"],
    ignores: ["src/adapters/postgres/**"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "pg",
              allowTypeImports: true,
              message: "pg is used in src/adapters/postgres only (elsewhere: import type).",
            },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "CallExpression[callee.property.name='query'][arguments.0.type=/^(Literal|TemplateLiteral)$/]",
          message: "SQL lives in src/adapters/postgres, behind a named function.",
        },
      ],
    },
  },
  {
    // The demos read their summaries back from Postgres as an operator would with psql:
    // report queries of a showcase tool, not the product's data access.
    files: ["src/cli/demo.ts", "src/cli/demo-billing.ts", "src/cli/demo-sessions.ts"],
    rules: { "no-restricted-syntax": "off" },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
