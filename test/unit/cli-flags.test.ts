/**
 * Duration flags are seconds named `-s`; a renamed flag's old spelling keeps working
 * with a warning on stderr, converted to the new unit, and clashes with the new one.
 */
import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deprecatedFlag } from "../../src/cli/deprecated-flag.js";
import * as parse from "../../src/cli/parse.js";

function command() {
  let got: Record<string, unknown> | undefined;
  const program = new Command("ratestream").exitOverride().configureOutput({ writeErr: () => {} });
  const sub = program
    .command("run")
    .option("--max-wait-s <s>", "longest a fetch waits", parse.seconds, 0.5)
    .action((options: Record<string, unknown>) => {
      got = options;
    });
  deprecatedFlag(sub, {
    flags: "--max-wait-ms <ms>",
    replacement: "--max-wait-s",
    parse: parse.millisecondsAsSeconds,
  });
  return { program, options: () => got };
}

describe("duration flags", () => {
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  afterEach(() => stderr.mockClear());

  it("seconds take up to 3 decimals and nothing else; ms convert to seconds", () => {
    expect(parse.seconds("60")).toBe(60);
    expect(parse.seconds("0.1")).toBe(0.1);
    for (const bad of ["-1", "1.2345", "1e3", "", "abc"]) expect(() => parse.seconds(bad)).toThrow();
    expect(parse.millisecondsAsSeconds("6000")).toBe(6);
    expect(() => parse.millisecondsAsSeconds("1.5")).toThrow();
    expect(parse.toMs(0.1)).toBe(100);
    expect(parse.toMs(0.007)).toBe(7);
  });

  it("the new spelling, and the default, without a warning", async () => {
    const a = command();
    await a.program.parseAsync(["run", "--max-wait-s", "0.1"], { from: "user" });
    expect(a.options()).toMatchObject({ maxWaitS: 0.1 });
    const b = command();
    await b.program.parseAsync(["run"], { from: "user" });
    expect(b.options()).toMatchObject({ maxWaitS: 0.5 });
    expect(stderr).not.toHaveBeenCalled();
  });

  it("the old spelling still works, converted, with a warning on stderr", async () => {
    const c = command();
    await c.program.parseAsync(["run", "--max-wait-ms", "100"], { from: "user" });
    expect(c.options()).toMatchObject({ maxWaitS: 0.1 });
    expect(stderr).toHaveBeenCalledWith("ratestream: --max-wait-ms is deprecated; use --max-wait-s 0.1\n");
  });

  it("old and new spelling together are bad usage; a bad old value names the old flag", async () => {
    await expect(
      command().program.parseAsync(["run", "--max-wait-ms", "100", "--max-wait-s", "1"], { from: "user" }),
    ).rejects.toThrow(/--max-wait-ms and --max-wait-s/);
    await expect(
      command().program.parseAsync(["run", "--max-wait-ms", "0.5"], { from: "user" }),
    ).rejects.toThrow(/--max-wait-ms/);
  });

  it("--help lists the new spelling only", () => {
    const help = command().program.commands[0]!.helpInformation();
    expect(help).toContain("--max-wait-s");
    expect(help).not.toContain("--max-wait-ms");
  });
});
