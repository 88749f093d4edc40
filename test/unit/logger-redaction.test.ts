/** No API key, card, Stripe secret or SMTP/database password ever reaches a log line. */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, scrubUrls } from "../../src/observability/logger.js";

const SECRETS = {
  apiKey: "rsk_S3CRETapiKEYvalue0123456789",
  stripe: "sk_live_S3CRETstripeKEY",
  card: "pm_S3CRETcardMETHOD",
  smtpPassword: "S3CRETsmtpPASS",
  dbPassword: "S3CRETdbPASS",
};

function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let out = "";
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString("utf8");
      done();
    },
  });
  return { logger: createLogger("trace", "test", sink), text: () => out };
}

describe("log redaction", () => {
  it("censors keys, cards and secrets at the top level and one object down", () => {
    const { logger, text } = capture();
    logger.info({ authorization: `Bearer ${SECRETS.apiKey}` }, "top-level header");
    logger.info({ req: { headers: { authorization: `Bearer ${SECRETS.apiKey}`, host: "x" } } }, "request");
    logger.info({ headers: { authorization: `Bearer ${SECRETS.apiKey}` } }, "headers");
    logger.warn({ apiKey: SECRETS.apiKey, api_key: SECRETS.apiKey }, "keys");
    logger.info({ config: { stripeSecretKey: SECRETS.stripe, STRIPE_SECRET_KEY: SECRETS.stripe } }, "cfg");
    logger.info({ body: { stripe_payment_method: SECRETS.card } }, "body");
    logger.info({ stripe_payment_method: SECRETS.card, paymentMethodId: SECRETS.card }, "card");
    const lines = text().trim().split("\n");
    expect(lines).toHaveLength(7);
    for (const secret of Object.values(SECRETS)) expect(text()).not.toContain(secret);
    expect(text()).toContain("[redacted]");
    // What is not secret stays readable.
    expect(JSON.parse(lines[1]!)).toMatchObject({ req: { headers: { host: "x" } }, msg: "request" });
  });

  it("keeps URLs but drops their passwords, in fields and in error messages", () => {
    const { logger, text } = capture();
    logger.info(
      {
        smtpUrl: `smtp://billing:${SECRETS.smtpPassword}@mail.example:587`,
        config: { databaseUrl: `postgres://app:${SECRETS.dbPassword}@db:5432/ratestream` },
      },
      "config",
    );
    logger.error(
      { err: new Error(`connect failed: smtps://u:${SECRETS.smtpPassword}@mail.example:465 refused`) },
      "smtp down",
    );
    expect(text()).not.toContain(SECRETS.smtpPassword);
    expect(text()).not.toContain(SECRETS.dbPassword);
    expect(text()).toContain("smtp://billing:[redacted]@mail.example:587");
    expect(text()).toContain("postgres://app:[redacted]@db:5432/ratestream");
    expect(text()).toContain("smtps://u:[redacted]@mail.example:465 refused");
  });

  it("scrubs only the password of a URL", () => {
    expect(scrubUrls("see redis://:pw@h:6379/0 and http://h/x?y=1")).toBe(
      "see redis://:[redacted]@h:6379/0 and http://h/x?y=1",
    );
  });
});
