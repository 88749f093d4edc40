/**
 * bench/rerate: `ratestream rerate` over a period of N calls, read back from a
 * rated-cdrs topic: the dry run (read, re-rate, compare, stage, report) and --apply
 * (the same plus booking one entry per account), each as the real CLI in a child
 * process, with its wall time, peak RSS and peak V8 heap. Run at two sizes, the peak
 * memory shows whether it grows with the number of calls.
 *
 * The period is set up without the rater, for speed: the ledger's call entries are
 * inserted as the rater would have recorded them under a wrong deck (UK mobile ten times
 * too high), the same calls published to rated-cdrs, then the fixed deck imported.
 *
 *   npm run bench:rerate [-- --sizes 20000,200000 --accounts 2000 --heap-mib 64]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/env.js";
import { createKafkajsClient } from "../src/adapters/kafka/kafkajs-client.js";
import { createPool, quoteIdent } from "../src/adapters/postgres/pool.js";
import { migrate } from "../src/adapters/postgres/migrate.js";
import { importDeckSet } from "../src/adapters/postgres/rate-versions.js";
import { connectRedis } from "../src/adapters/redis/connection.js";
import { allAccountKeys } from "../src/adapters/redis/keys.js";
import { validateCdr } from "../src/core/cdr.js";
import { parseRateDeck } from "../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../src/core/decks/surcharge-deck.js";
import { rateCdr } from "../src/core/rating/rate.js";
import { buildRateTable } from "../src/core/rating/rate-table.js";
import { createLogger } from "../src/observability/logger.js";
import { ratedCdrMessage, ratingFields } from "../src/pipeline/messages.js";
import { generateCdrs } from "../src/tools/cdr-generator.js";
import { machine } from "./lib/report.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "20000,200000" },
    accounts: { type: "string", default: "2000" },
    /** Cap the CLI's V8 old space (MiB): it must still finish if memory is bounded. */
    "heap-mib": { type: "string" },
  },
});
const sizes = values.sizes.split(",").map(Number);
const accountCount = Number(values.accounts);
const config = loadConfig(process.env);
const logger = createLogger("error");
const OPENING = 1_000_000_000_000n;

const original = await readFile("rates/rates.csv", "utf8");
const surcharges = await readFile("rates/surcharges.csv", "utf8");
const wrong = original.replace(
  '447,"United Kingdom, mobile",outbound,0.045000',
  '447,"United Kingdom, mobile",outbound,0.450000',
);

interface Measured {
  seconds: number;
  maxRssMiB: number;
  peakHeapMiB: number;
  summary: string;
}

/**
 * Preloaded (node --import) into the measured CLI: samples the V8 heap in use every
 * 20 ms and prints the peak on exit, next to the peak RSS Node itself records.
 */
const PEAK_PROBE = `data:text/javascript,${encodeURIComponent(`
  let peak = 0;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().heapUsed));
  setInterval(sample, 20).unref();
  process.on("exit", () => {
    sample();
    process.stderr.write("bench-peak-heap-bytes " + peak + " bench-max-rss-kb " + process.resourceUsage().maxRSS + "\\n");
  });
`)}`;

function measure(args: string[], env: Record<string, string>): Measured {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ["--import", PEAK_PROBE, "bin/ratestream.js", ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (child.status !== 0) throw new Error(`rerate failed (${child.status}): ${child.stderr}`);
  const peak = /bench-peak-heap-bytes (\d+) bench-max-rss-kb (\d+)/.exec(child.stderr);
  return {
    seconds,
    peakHeapMiB: Number(peak?.[1] ?? 0) / 2 ** 20,
    maxRssMiB: Number(peak?.[2] ?? 0) / 1024,
    summary: child.stdout.trim().split("\n").at(-1)!,
  };
}

async function period(calls: number) {
  const tag = randomBytes(4).toString("hex");
  const schema = `bench_rerate_${tag}`;
  const admin = createPool(config.databaseUrl, { max: 1 });
  await admin.query(`create schema ${quoteIdent(schema)}`);
  const pool = createPool(config.databaseUrl, { schema, max: 4 });
  const kafka = createKafkajsClient({ brokers: config.kafkaBrokers, logger });
  const kafkaAdmin = await kafka.admin();
  const prefix = `bench-rerate-${tag}.`;
  const topic = `${prefix}rated-cdrs`;
  const accounts = Array.from({ length: accountCount }, (_, i) => `bench-rerate-${tag}-${i}`);
  const redis = connectRedis(config.redisUrl);
  try {
    await migrate(pool);
    await kafkaAdmin.createTopics([{ topic, partitions: 3 }]);
    const deck = (text: string) => ({
      rates: { file: "rates.csv", text },
      surcharges: { file: "surcharges.csv", text: surcharges },
    });
    await importDeckSet(pool, deck(wrong));
    const rates = parseRateDeck(wrong, "rates.csv");
    const table = buildRateTable({ rates, surcharges: parseSurchargeDeck(surcharges, "surcharges.csv") }, 1);
    await pool.query(
      "insert into accounts (account_id, admin_email) select a, 'bench@example.com' from unnest($1::text[]) a",
      [accounts],
    );
    const state = new Map(accounts.map((a) => [a, { seq: 1n, balance: OPENING }]));
    await pool.query(
      `insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros, currency)
       select a, 1, 'credit:opening', 'credit', $2, $2, 'USD' from unnest($1::text[]) a`,
      [accounts, OPENING.toString()],
    );

    const producer = await kafka.producer();
    const prefixes = {
      outbound: rates.filter((r) => r.direction === "outbound").map((r) => r.prefix),
      inbound: rates.filter((r) => r.direction === "inbound").map((r) => r.prefix),
    };
    let rows: string[][] = Array.from({ length: 6 }, () => []);
    let messages: ReturnType<typeof ratedCdrMessage>[] = [];
    const flush = async () => {
      await pool.query(
        `insert into ledger_entries (account_id, seq, idempotency_key, kind, amount_micros, balance_after_micros,
           currency, rate_version, cdr_id, details)
         select a, s, 'cdr:' || c, 'call', m, b, 'USD', 1, c, d::jsonb
           from unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
             as v(a, s, c, m, b, d)`,
        rows.slice(0, 6),
      );
      await producer.send(topic, messages);
      rows = Array.from({ length: 6 }, () => []);
      messages = [];
    };
    let written = 0;
    for (const raw of generateCdrs(calls, {
      seed: 7,
      accounts,
      prefixes,
      idPrefix: `b${tag}`,
      startMs: Date.parse("2026-11-20T00:00:00Z"),
    })) {
      const decoded = validateCdr(raw);
      if (!decoded.ok) continue;
      const rated = rateCdr(table, decoded.cdr);
      if (!rated.ok) continue;
      const s = state.get(raw.account_id)!;
      s.seq += 1n;
      s.balance -= rated.chargeMicros;
      const fields = ratingFields(rated);
      rows[0]!.push(raw.account_id);
      rows[1]!.push(s.seq.toString());
      rows[2]!.push(raw.cdr_id);
      rows[3]!.push((-rated.chargeMicros).toString());
      rows[4]!.push(s.balance.toString());
      rows[5]!.push(JSON.stringify({ billed_seconds: fields.billed_seconds, prefix: fields.prefix }));
      messages.push(ratedCdrMessage(decoded.cdr, fields));
      written++;
      if (messages.length >= 5_000) await flush();
    }
    if (messages.length > 0) await flush();
    await producer.disconnect();
    await importDeckSet(pool, deck(original));

    const env = {
      DATABASE_URL: `${config.databaseUrl}${config.databaseUrl.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    };
    const out = join(tmpdir(), `bench-rerate-${tag}.csv`);
    const common = [
      "rerate",
      "--from",
      "2026-11-20",
      "--to",
      "2026-12-01",
      "--topic-prefix",
      prefix,
      "--out",
      out,
    ];
    const dry = measure(common, env);
    const apply = measure([...common, "--apply", "--run", "bench"], env);
    return { calls: written, dry, apply };
  } finally {
    await kafkaAdmin.deleteTopics([topic]).catch(() => undefined);
    await kafkaAdmin.disconnect();
    for (let i = 0; i < accounts.length; i += 500)
      await redis.del(...accounts.slice(i, i + 500).flatMap(allAccountKeys));
    redis.disconnect();
    await pool.end();
    await admin.query(`drop schema ${quoteIdent(schema)} cascade`);
    await admin.end();
  }
}

console.log(
  `bench:rerate on ${machine()}, ${new Date().toISOString()}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log(
  `${execFileSync("nproc").toString().trim()} cores visible; ${accountCount} accounts` +
    (values["heap-mib"] ? `; the CLI's old space capped at ${values["heap-mib"]} MiB` : ""),
);
console.log("| calls | run | wall s | calls/s | peak RSS MiB | peak heap MiB |");
console.log("|---:|---|---:|---:|---:|---:|");
for (const size of sizes) {
  const r = await period(size);
  for (const [name, m] of [
    ["dry run", r.dry],
    ["--apply", r.apply],
  ] as const) {
    console.log(
      `| ${r.calls} | ${name} | ${m.seconds.toFixed(1)} | ${Math.round(r.calls / m.seconds)} | ${m.maxRssMiB.toFixed(0)} | ${m.peakHeapMiB.toFixed(0)} |`,
    );
  }
  console.log(`  summary: ${r.apply.summary}`);
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
