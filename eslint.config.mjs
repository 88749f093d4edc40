// Lint: type-aware rules for promises (a dropped promise loses an error or a debit), no
// import cycles, and the layout: which folder of src/ may import which, SQL and each
// server's client library only in its adapter, the core pure.
import tseslint from "typescript-eslint";
import { importX } from "eslint-plugin-import-x";

// Which folder of src/ may import which (docs/architecture.md, "Folders and who imports
// whom"). Each entry lists what a folder may import besides itself, `errors.ts`, `core/`,
// `config/` and `observability/` (which every folder but `core/` and `config/` may use).
// A folder or an adapter (`adapters/kafka`) allows all of it; a file
// (`calls/types.ts`) allows only that file of its folder. Everything else in src/ is
// refused, so a new arrow between folders is a decision made here, in review.
const UNITS = [
  "core",
  "config",
  "observability",
  "balances",
  "calls",
  "pipeline",
  "recharge",
  "notify",
  "workers",
  "api",
  "offline",
  "rerate",
  "tools",
  "cli",
  "types",
  "adapters/errors.ts",
  "adapters/http",
  "adapters/kafka",
  "adapters/postgres",
  "adapters/redis",
  "adapters/registry",
  "adapters/smtp",
  "adapters/stripe",
];
const FOUNDATION = ["core", "config", "observability"];
// The vocabulary adapters implement or store: ports, types, event ids.
const VOCABULARY = [
  "balances/ports.ts",
  "balances/types.ts",
  "balances/event-id.ts",
  "calls/types.ts",
  "recharge/payments.ts",
  "notify/emails.ts",
];
const LAYERS = {
  core: { may: [], foundation: false },
  config: { may: [], foundation: false },
  observability: { may: ["config"], foundation: false },
  // The balance rules' effects; Redis and Postgres only through the ports of ports.ts.
  balances: { may: ["calls/types.ts"] },
  // Sessions: Redis through the CallStore port; Postgres through its functions (argued).
  calls: { may: ["balances", "adapters/postgres/call-sessions.ts"] },
  // A CDR: decode (registry), rate, the write path, publish (Kafka), the outbox (Postgres).
  pipeline: {
    may: ["balances", "adapters/errors.ts", "adapters/kafka", "adapters/registry", "adapters/postgres"],
  },
  // A card charge and number renewal: handlers of balance events, through the write path.
  recharge: { may: ["balances", "pipeline/messages.ts", "workers", "adapters/postgres"] },
  notify: {
    may: ["pipeline/messages.ts", "workers", "adapters/postgres", "adapters/smtp"],
  },
  // The consumer loop and the stop on SIGTERM: no business of their own.
  workers: { may: ["pipeline/messages.ts", "adapters/errors.ts", "adapters/kafka", "adapters/http"] },
  api: { may: ["balances", "calls", "recharge", "adapters/errors.ts", "adapters/postgres"] },
  offline: { may: [] },
  rerate: { may: ["balances", "adapters/kafka", "adapters/postgres"] },
  // Fakes and generators for the demo, benchmarks and tests: only the CLI (demo) uses them.
  tools: { may: ["adapters/kafka/types.ts"] },
  cli: { may: UNITS.filter((u) => u !== "tools") },
  // The demo runs the fakes and generators of tools/ (no other command does).
  "cli/demo": { files: ["src/cli/demo*.ts"], as: "cli", may: UNITS },
  // Declarations for untyped packages (vendor.d.ts): nobody imports them by path.
  types: { may: [], foundation: false },
  "adapters/errors.ts": {
    may: ["adapters/kafka", "adapters/postgres", "adapters/redis", "adapters/registry"],
  },
  "adapters/http": { may: [] },
  "adapters/kafka": { may: [] },
  "adapters/postgres": { may: VOCABULARY },
  "adapters/redis": { may: VOCABULARY },
  "adapters/registry": { may: [] },
  "adapters/smtp": { may: [] },
  "adapters/stripe": { may: VOCABULARY },
};

const js = (path) => path.replace(/\.ts$/, ".js");
const isFile = (unit) => unit.endsWith(".ts");

/** The import patterns a folder may not use: every unit it may not import, but for the files it may. */
function refused(unit) {
  const { may, foundation = true, as = unit } = LAYERS[unit];
  const allowed = [as, ...may, ...(foundation ? FOUNDATION : [])];
  const patterns = [];
  for (const other of UNITS) {
    if (allowed.includes(other)) continue;
    const files = allowed.filter((a) => isFile(a) && a.startsWith(`${other}/`));
    const target = isFile(other) ? [`**/${js(other)}`] : [`**/${other}/**`];
    // Inside adapters/, a sibling adapter is reached as ../<name>/….
    if (unit.startsWith("adapters/") && other.startsWith("adapters/") && !isFile(other)) {
      target.push(`../${other.slice("adapters/".length)}/**`);
    }
    patterns.push({
      group: [...target, ...files.map((f) => `!**/${js(f)}`)],
      message: `${unit} may not import ${other}${files.length ? ` (but ${files.join(", ")})` : ""}: see docs/architecture.md, "Folders and who imports whom".`,
    });
  }
  return patterns;
}

// Each server's client library is the business of its adapter: elsewhere it may be
// imported only as a type (a pool or a connection handed in and passed on; pg's rule
// keeps SQL in the Postgres adapter).
const CLIENTS = {
  pg: "adapters/postgres",
  ioredis: "adapters/redis",
  kafkajs: "adapters/kafka",
  "@confluentinc/kafka-javascript": "adapters/kafka",
  "@kafkajs/confluent-schema-registry": "adapters/registry",
  stripe: "adapters/stripe",
  nodemailer: "adapters/smtp",
};
const clientPaths = (unit) =>
  Object.entries(CLIENTS)
    .filter(([, owner]) => owner !== unit)
    .map(([name, owner]) => ({
      name,
      allowTypeImports: true,
      message: `${name} is used in src/${owner} only (elsewhere: import type).`,
    }));

/** One config per unit: its refused imports, and the client libraries of other units as types only. */
const layering = Object.keys(LAYERS).map((unit) => ({
  files: LAYERS[unit].files ?? (isFile(unit) ? [`src/${unit}`] : [`src/${unit}/**/*.ts`]),
  rules: {
    "@typescript-eslint/no-restricted-imports": [
      "error",
      { paths: clientPaths(unit), patterns: refused(unit) },
    ],
  },
}));

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
              group: ["kafkajs", "ioredis", "pg"],
              message: "src/core may not depend on a server's client (adapters: see the layering below).",
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
    // (`pg` as a type only: in the layering configs below, which own that rule.)
    rules: {
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
  ...layering,
  {
    // Files at the root of src/ (errors.ts) import nothing of src/ but themselves.
    files: ["src/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: clientPaths("errors.ts"),
          patterns: [
            { group: ["./*/**"], message: "errors.ts is the bottom of src/: it imports no folder." },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
