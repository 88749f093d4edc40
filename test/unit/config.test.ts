import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { DEFAULT_HTTP_PORTS, loadConfig } from "../../src/config/env.js";

describe("loadConfig", () => {
  it("gives the local defaults of SPEC §6 for an empty environment", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      kafkaBrokers: ["127.0.0.1:9092"],
      schemaRegistryUrl: "http://127.0.0.1:8081/apis/ccompat/v7",
      redisUrl: "redis://127.0.0.1:6379",
      httpPort: 8080,
      logLevel: "info",
      stripeSecretKey: undefined,
      smtpUrl: undefined,
      smtpFrom: "ratestream billing <billing@ratestream.local>",
    });
  });

  it("reads SMTP_FROM as an address with or without a display name", () => {
    expect(loadConfig({ SMTP_FROM: "Acme Billing <billing@acme.example>" }).smtpFrom).toBe(
      "Acme Billing <billing@acme.example>",
    );
    expect(loadConfig({ SMTP_FROM: "billing@acme.example" }).smtpFrom).toBe("billing@acme.example");
  });

  it("uses each worker's own default port", () => {
    expect(loadConfig({}, { httpPortDefault: DEFAULT_HTTP_PORTS["recharge-worker"] }).httpPort).toBe(9101);
    expect(loadConfig({}, { httpPortDefault: DEFAULT_HTTP_PORTS["notify-worker"] }).httpPort).toBe(9102);
    expect(loadConfig({ HTTP_PORT: "9200" }, { httpPortDefault: 9101 }).httpPort).toBe(9200);
  });

  it("reads several brokers, IPv6 included", () => {
    expect(loadConfig({ KAFKA_BROKERS: "10.0.0.1:9092, kafka-2:9093,[::1]:9094" }).kafkaBrokers).toEqual([
      "10.0.0.1:9092",
      "kafka-2:9093",
      "[::1]:9094",
    ]);
  });

  it("reads API_RATE_LIMIT_PER_S, 1000 per key by default", () => {
    expect(loadConfig({}).apiRateLimitPerSecond).toBe(1000);
    expect(loadConfig({ API_RATE_LIMIT_PER_S: "50" }).apiRateLimitPerSecond).toBe(50);
  });

  it("reads the call session settings of SPEC §8, with their defaults", () => {
    expect(loadConfig({}).calls).toEqual({ quotaSeconds: 300, graceSeconds: 60, cdrWaitSeconds: 3600 });
    expect(
      loadConfig({ CALL_QUOTA_SECONDS: "60", CALL_GRACE_SECONDS: "0", CALL_CDR_WAIT_SECONDS: "120" }).calls,
    ).toEqual({ quotaSeconds: 60, graceSeconds: 0, cdrWaitSeconds: 120 });
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ HTTP_PORT: "", LOG_LEVEL: " " }).httpPort).toBe(8080);
  });

  it.each([
    ["KAFKA_BROKERS", "localhost"],
    ["KAFKA_BROKERS", "a:1,b"],
    ["KAFKA_BROKERS", "host:99999"],
    ["SCHEMA_REGISTRY_URL", "127.0.0.1:8081"],
    ["REDIS_URL", "postgres://x"],
    ["DATABASE_URL", "redis://x"],
    ["HTTP_PORT", "80a"],
    ["HTTP_PORT", "-1"],
    ["STRIPE_SECRET_KEY", "pk_test_abc"],
    ["STRIPE_API_BASE", "not-a-url"],
    ["SMTP_URL", "http://mail"],
    ["SMTP_FROM", "billing"],
    ["SMTP_FROM", "Billing <billing@acme.example"],
    ["LOG_LEVEL", "verbose"],
    ["API_RATE_LIMIT_PER_S", "0"],
    ["API_RATE_LIMIT_PER_S", "10.5"],
    ["API_RATE_LIMIT_PER_S", "fast"],
    ["API_RATE_LIMIT_PER_S", "2000000"],
    ["CALL_QUOTA_SECONDS", "0"],
    ["CALL_QUOTA_SECONDS", "86401"],
    ["CALL_QUOTA_SECONDS", "5m"],
    ["CALL_GRACE_SECONDS", "-1"],
    ["CALL_GRACE_SECONDS", "1.5"],
    ["CALL_CDR_WAIT_SECONDS", "0"],
    ["CALL_CDR_WAIT_SECONDS", "604801"],
  ])("refuses %s=%s naming the variable", (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message.startsWith(`${variable}:`)).toBe(true);
    expect((error as ConfigError).retryable).toBe(false);
  });

  it("never echoes a bad Stripe key", () => {
    expect(() => loadConfig({ STRIPE_SECRET_KEY: "pk_live_SECRET123" })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining("SECRET123") as string }) as Error,
    );
  });
});
