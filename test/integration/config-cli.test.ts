/** A bad setting stops the real command before it touches a server, naming the variable. */
import { describe, expect, it } from "vitest";
import { ratestream } from "../support/cli.js";

describe("configuration at start-up", () => {
  it.each([
    ["KAFKA_BROKERS", "kafka-without-port"],
    ["REDIS_URL", "http://127.0.0.1:6379"],
    ["DATABASE_URL", "not a url"],
    ["HTTP_PORT", "70000"],
    ["LOG_LEVEL", "loud"],
    ["SCHEMA_REGISTRY_URL", "ftp://127.0.0.1"],
  ])("refuses %s=%s with exit 2 and the variable named", async (variable, value) => {
    const result = await ratestream(["check"], { env: { [variable]: value } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(variable);
    expect(result.stdout).toBe("");
  });

  it("with the local defaults, `check` finds every service answering", async () => {
    const result = await ratestream(["check"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    for (const name of ["kafka", "registry", "redis", "postgres"]) {
      expect(result.stdout).toMatch(new RegExp(`^${name}\\s+ok`, "m"));
    }
  });

  it("reports a service that cannot be reached with exit 2", async () => {
    const result = await ratestream(["check"], { env: { REDIS_URL: "redis://127.0.0.1:1" } });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^redis\s+FAIL/m);
  });
});
