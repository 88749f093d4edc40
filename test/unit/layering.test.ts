/**
 * The layout of docs/architecture.md ("Folders and who imports whom") is held by
 * eslint.config.mjs: an import across a forbidden arrow fails lint, an allowed one does
 * not. Linted as text at a path in src/ (no file is written), without type information.
 */
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint({
  cwd: new URL("../../", import.meta.url).pathname,
  overrideConfig: [{ files: ["**/*.ts"], ...tseslint.configs.disableTypeChecked }],
});

async function refusals(path: string, ...imports: string[]): Promise<string[]> {
  const code = imports.map((from, i) => `import * as m${i} from "${from}";\nexport { m${i} };\n`).join("");
  const [result] = await eslint.lintText(code, { filePath: path });
  const fatal = result!.messages.find((m) => m.fatal);
  if (fatal) throw new Error(`${path}: ${fatal.message}`);
  return result!.messages.filter((m) => m.ruleId?.endsWith("no-restricted-imports")).map((m) => m.message);
}

describe("which folder may import which (eslint.config.mjs)", () => {
  it("balances/ reaches no adapter, only the type module of calls/", async () => {
    expect(await refusals("src/balances/probe.ts", "../adapters/redis/keys.js")).toEqual([
      expect.stringContaining("balances may not import adapters/redis"),
    ]);
    expect(await refusals("src/balances/probe.ts", "../calls/sessions.js")).toHaveLength(1);
    expect(
      await refusals("src/balances/probe.ts", "../calls/types.js", "../core/money.js", "../errors.js"),
    ).toEqual([]);
  });

  it("adapters import the vocabulary they implement, not each other nor the flows", async () => {
    expect(await refusals("src/adapters/postgres/probe.ts", "../../balances/ports.js", "./pool.js")).toEqual(
      [],
    );
    expect(await refusals("src/adapters/postgres/probe.ts", "../redis/keys.js")).toHaveLength(1);
    expect(await refusals("src/adapters/postgres/probe.ts", "../../pipeline/topics.js")).toHaveLength(1);
    expect(await refusals("src/adapters/redis/probe.ts", "../../balances/write-path.js")).toHaveLength(1);
  });

  it("the core is pure; errors.ts imports no folder", async () => {
    expect(await refusals("src/core/probe.ts", "../balances/types.js")).toHaveLength(1);
    expect(await refusals("src/core/probe.ts", "../observability/logger.js")).toHaveLength(1);
    expect(await refusals("src/probe.ts", "./adapters/postgres/pool.js")).toHaveLength(1);
  });

  it("nothing but cli/ imports api/ or cli/; only the demo imports tools/", async () => {
    expect(await refusals("src/pipeline/probe.ts", "../api/app.js")).toHaveLength(1);
    expect(await refusals("src/recharge/probe.ts", "../cli/context.js")).toHaveLength(1);
    expect(await refusals("src/cli/probe.ts", "../api/app.js", "../pipeline/rater.js")).toEqual([]);
    expect(await refusals("src/cli/probe.ts", "../tools/stripe-fake.js")).toHaveLength(1);
    expect(await refusals("src/cli/demo-probe.ts", "../tools/stripe-fake.js")).toEqual([]);
    expect(await refusals("src/api/probe.ts", "../tools/stripe-fake.js")).toHaveLength(1);
  });

  it("a server's client library is a value only in its adapter", async () => {
    expect(await refusals("src/recharge/probe.ts", "stripe")).toHaveLength(1);
    expect(await refusals("src/adapters/stripe/probe.ts", "stripe")).toEqual([]);
    expect(await refusals("src/api/probe.ts", "ioredis")).toHaveLength(1);
  });
});
