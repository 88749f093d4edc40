/** The Prometheus alert rules, checked by Prometheus's own promtool (Debian's prometheus package). */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("alert rules", () => {
  it("fire when lag grows, dead letters flow, reconcile drifts, the outbox backs up, dependencies fail, a bug is hit, stranded changes are undone, call sessions keep expiring without their CDR — and not before", async () => {
    const { stdout } = await run("promtool", ["test", "rules", "ops/prometheus/alerts.test.yml"]);
    expect(stdout).toContain("SUCCESS");
  });

  it("are valid rule files", async () => {
    const { stdout } = await run("promtool", ["check", "rules", "ops/prometheus/alerts.yml"]);
    expect(stdout).toMatch(/SUCCESS: 9 rules found/);
  });
});
