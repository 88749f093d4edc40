/**
 * `ratestream rerate` end to end on the real servers (SPEC §9): calls charged by the
 * rater under a wrong deck, a fixed deck imported, then the dry run's report checked
 * call by call against the rating core, --apply checked against the ledger, Redis and
 * the crossings, and the same and a later run booking nothing more.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { importDeckSet } from "../../src/adapters/postgres/rate-versions.js";
import { lockApply } from "../../src/adapters/postgres/rerate.js";
import { checkAccount } from "../../src/balances/reconcile.js";
import { applyEntries } from "../../src/balances/write-path.js";
import { validateCdr } from "../../src/core/cdr.js";
import { parseRateDeck } from "../../src/core/decks/rate-deck.js";
import { parseSurchargeDeck } from "../../src/core/decks/surcharge-deck.js";
import { rateCdr } from "../../src/core/rating/rate.js";
import { buildRateTable, type RateTable } from "../../src/core/rating/rate-table.js";
import type { RawCdr } from "../../src/tools/cdr-generator.js";
import { credit } from "../support/balances.js";
import { ratestream } from "../support/cli.js";
import { eventually, startRater } from "../support/rater.js";
import { Scope } from "../support/services.js";
import { expectedCrossings, streamRig, type StreamRig } from "../support/stream.js";

const scope = new Scope();
afterEach(() => scope.cleanup());

const WINDOW = ["--from", "2026-11-20", "--to", "2026-11-21"];

interface Charged {
  s: StreamRig;
  /** The distinct calls the rater charged. */
  calls: RawCdr[];
  wrong: RateTable;
  fixed: RateTable;
  fixedVersion: number;
  report: string;
}

/** Deck texts: UK mobile a hundred times too high and German fixed ten times too low; the fix also drops Australia fixed. */
async function decks() {
  const original = await readFile("rates/rates.csv", "utf8");
  const surcharges = await readFile("rates/surcharges.csv", "utf8");
  const wrong = original
    .replace(
      '447,"United Kingdom, mobile",outbound,0.045000',
      '447,"United Kingdom, mobile",outbound,4.500000',
    )
    .replace('49,"Germany, fixed",outbound,0.020000', '49,"Germany, fixed",outbound,0.002000');
  expect(wrong).not.toBe(original);
  const fixed = original
    .split("\n")
    .filter((line) => !line.startsWith("61,"))
    .join("\n");
  const table = (text: string, version: number) =>
    buildRateTable(
      {
        rates: parseRateDeck(text, "rates.csv"),
        surcharges: parseSurchargeDeck(surcharges, "surcharges.csv"),
      },
      version,
    );
  return { wrong, fixed, surcharges, table };
}

async function chargedUnderWrongDeck(count: number): Promise<Charged> {
  const s = await streamRig(scope, 4);
  const d = await decks();
  const wrongVersion = (
    await importDeckSet(s.rig.pool, {
      rates: { file: "rates.csv", text: d.wrong },
      surcharges: { file: "surcharges.csv", text: d.surcharges },
    })
  ).version;
  const cdrs = s.cdrs(count, 17);
  const rater = startRater({ databaseUrl: s.rig.databaseUrl, topicPrefix: s.topicPrefix, group: s.group });
  scope.defer(() => rater.stop("SIGKILL"));
  await s.sendJson(cdrs);
  await eventually(() => s.caughtUp(), 90_000, "the rater to charge every call");
  await rater.stop("SIGTERM");

  // A call the ledger never charged, in the window, and one answered after it.
  const ghost = { ...cdrs[0]!, cdr_id: "ghost-in-window", charge_micros: 1, rate_version: 1 };
  const late = { ...cdrs[0]!, cdr_id: "ghost-after", answered_at: "2026-11-22T00:00:00Z" };
  await s.producer.send(s.topics.ratedCdrs, [
    { key: ghost.account_id, value: JSON.stringify(ghost) },
    { key: late.account_id, value: JSON.stringify(late) },
  ]);

  const fixedVersion = (
    await importDeckSet(s.rig.pool, {
      rates: { file: "rates.csv", text: d.fixed },
      surcharges: { file: "surcharges.csv", text: d.surcharges },
    })
  ).version;
  const wrongTable = d.table(d.wrong, wrongVersion);
  const calls = [...new Map(cdrs.map((c) => [`${c.account_id}/${c.cdr_id}`, c])).values()].filter(
    (c) => charge(wrongTable, c) !== undefined,
  );
  const dir = await mkdtemp(join(tmpdir(), "rerate-"));
  return {
    s,
    calls,
    wrong: wrongTable,
    fixed: d.table(d.fixed, fixedVersion),
    fixedVersion,
    report: join(dir, "report.csv"),
  };
}

function charge(table: RateTable, raw: RawCdr): bigint | undefined {
  const decoded = validateCdr(raw);
  if (!decoded.ok) throw new Error(decoded.error.message);
  const rated = rateCdr(table, decoded.cdr);
  return rated.ok ? rated.chargeMicros : undefined;
}

/** What the report must hold: each changed call's delta, by cdr_id; and the counts. */
function expected(c: Charged) {
  const changed = new Map<string, { account: string; old: bigint; new: bigint }>();
  let unchanged = 0;
  let noRate = 0;
  for (const call of c.calls) {
    const old = charge(c.wrong, call)!;
    const now = charge(c.fixed, call);
    if (now === undefined) noRate++;
    else if (now === old) unchanged++;
    else changed.set(call.cdr_id, { account: call.account_id, old, new: now });
  }
  const byAccount = new Map<string, bigint>();
  for (const { account, old, new: now } of changed.values())
    byAccount.set(account, (byAccount.get(account) ?? 0n) + now - old);
  return { changed, unchanged, noRate, byAccount };
}

function parseCsv(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split("\n");
  const columns = header!.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [columns[i]!, v])));
}

async function rerate(c: Charged, args: string[], env: Record<string, string> = {}) {
  return ratestream(["rerate", ...WINDOW, "--topic-prefix", c.s.topicPrefix, "--out", c.report, ...args], {
    env: { DATABASE_URL: c.s.rig.databaseUrl, ...env },
  });
}

function summaryOf(stdout: string): Record<string, number> {
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, number>;
}

async function ledgerState(s: StreamRig) {
  const { rows } = await s.rig.pool.query<{ n: string; sum: string }>(
    "select count(*) as n, coalesce(sum(amount_micros), 0) as sum from ledger_entries",
  );
  return rows[0];
}

async function rerateEntries(s: StreamRig) {
  const { rows } = await s.rig.pool.query<{ account_id: string; amount_micros: string; reference: string }>(
    "select account_id, amount_micros, reference from ledger_entries where kind = 'rerate' order by account_id",
  );
  return rows;
}

async function expectCorrected(c: Charged, run: string, before: Map<string, bigint>) {
  const want = expected(c);
  const entries = await rerateEntries(c.s);
  expect(entries.filter((e) => e.reference.startsWith(`${run}:`)).map((e) => e.account_id)).toEqual(
    [...want.byAccount.keys()].sort(),
  );
  for (const account of c.s.accounts) {
    const delta = want.byAccount.get(account) ?? 0n;
    expect(await c.s.rig.ledgerBalance(account), `ledger ${account}`).toBe(before.get(account)! - delta);
    expect(await c.s.rig.balance(account), `Redis ${account}`).toBe(before.get(account)! - delta);
    expect((await checkAccount(c.s.rig.deps.store, c.s.rig.deps.ledger, account)).status).not.toBe("drift");
    const events: Record<string, number> = {};
    for (const e of await c.s.rig.events(account)) events[e.type] = (events[e.type] ?? 0) + 1;
    expect(events, `events of ${account}`).toEqual(await expectedCrossings(c.s.rig, account));
  }
}

/**
 * Credits each account to just below 2.00 when its correction is a refund (so it
 * unblocks), or to just above 5.00 by half its delta when it owes more (so it goes low).
 */
async function setUpCrossings(c: Charged, byAccount: Map<string, bigint>) {
  for (const [account, delta] of byAccount) {
    expect(delta < 0n ? -delta : delta).toBeGreaterThan(2_000n);
    const target = delta < 0n ? 2_000_000n + delta / 2n : 5_000_000n + delta / 2n;
    const amount = target - (await c.s.rig.ledgerBalance(account));
    if (amount > 0n) await applyEntries(c.s.rig.deps, [credit(account, "before-rerate", amount)]);
  }
}

describe("rerate", () => {
  it("reports exactly the changed calls, books each account's delta once, and a later run finds nothing left", async () => {
    const c = await chargedUnderWrongDeck(400);
    const want = expected(c);
    expect(want.changed.size).toBeGreaterThan(10);
    expect(want.noRate).toBeGreaterThan(0);
    await setUpCrossings(c, want.byAccount);
    const before = new Map(
      await Promise.all(c.s.accounts.map(async (a) => [a, await c.s.rig.ledgerBalance(a)] as const)),
    );
    const ledgerBefore = await ledgerState(c.s);

    // Dry run: the report, the summary, and nothing changed.
    const dry = await rerate(c, []);
    expect(dry.stderr).toMatch(/rerate: read \d+ of \d+ records/);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(
      /not_in_ledger: calls not in the ledger, counted, not booked: \S+\/ghost-in-window\n/,
    );
    expect(dry.stderr).toMatch(
      /no_rate: calls no longer rateable by this version, counted, not booked: .*\(no outbound rate for 61/,
    );
    const rows = parseCsv(await readFile(c.report, "utf8"));
    expect(rows.map((r) => r.cdr_id).sort()).toEqual([...want.changed.keys()].sort());
    for (const row of rows) {
      const w = want.changed.get(row.cdr_id!)!;
      expect(row.account_id).toBe(w.account);
      expect(BigInt(row.old_charge_micros!)).toBe(w.old);
      expect(BigInt(row.new_charge_micros!)).toBe(w.new);
      expect(BigInt(row.delta_micros!)).toBe(w.new - w.old);
      expect(row.new_rate_version).toBe(String(c.fixedVersion));
    }
    const total = [...want.byAccount.values()].reduce((a, b) => a + b, 0n);
    expect(summaryOf(dry.stdout)).toEqual({
      calls_read: c.calls.length + 1,
      changed: want.changed.size,
      unchanged: want.unchanged,
      not_in_ledger: 1,
      no_rate: want.noRate,
      accounts: want.byAccount.size,
      total_delta_micros: Number(total),
    });
    expect(Object.keys(summaryOf(dry.stdout))).toEqual([
      "calls_read",
      "changed",
      "unchanged",
      "not_in_ledger",
      "no_rate",
      "accounts",
      "total_delta_micros",
    ]);
    expect(await ledgerState(c.s)).toEqual(ledgerBefore);

    // Apply: each account moved by exactly its delta, crossings fired as the ledger says.
    const applied = await rerate(c, ["--apply", "--run", "fix-uk"]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(summaryOf(applied.stdout)).toEqual(summaryOf(dry.stdout));
    await expectCorrected(c, "fix-uk", before);
    for (const [account, delta] of want.byAccount) {
      const types = (await c.s.rig.events(account))
        .filter((e) => e.cause === `fix-uk:${account}`)
        .map((e) => e.type);
      expect(types, `crossings of ${account}`).toEqual(delta < 0n ? ["unblocked"] : ["low_balance"]);
    }

    // The same run again books nothing and prints the same summary.
    const afterApply = await ledgerState(c.s);
    const again = await rerate(c, ["--apply", "--run", "fix-uk"]);
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again.stdout)).toEqual(summaryOf(dry.stdout));
    expect(await ledgerState(c.s)).toEqual(afterApply);

    // A later run compares with what fix-uk booked: nothing left to correct.
    const later = await rerate(c, ["--apply", "--run", "fix-uk-2"]);
    expect(later.code, later.stderr).toBe(0);
    expect(summaryOf(later.stdout)).toMatchObject({ changed: 0, accounts: 0, total_delta_micros: 0 });
    expect(summaryOf(later.stdout).unchanged).toBe(want.changed.size + want.unchanged);
    expect(await ledgerState(c.s)).toEqual(afterApply);
    expect(parseCsv(await readFile(c.report, "utf8"))).toEqual([]);

    // Another run name with other options is refused, naming what the run was for.
    const other = await rerate(c, ["--apply", "--run", "fix-uk", "--account", c.s.accounts[0]!]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/run "fix-uk" was for/);
  }, 240_000);

  it("a SIGKILL half way through --apply, then the same command: every account corrected once", async () => {
    const c = await chargedUnderWrongDeck(300);
    const want = expected(c);
    expect(want.byAccount.size).toBeGreaterThan(2);
    const before = new Map(
      await Promise.all(c.s.accounts.map(async (a) => [a, await c.s.rig.ledgerBalance(a)] as const)),
    );

    // One account per write: the second account's entry is in the ledger, not confirmed in Redis.
    const killed = await rerate(c, ["--apply", "--run", "crash"], {
      RATESTREAM_FAULT: "after_ledger:2",
      RATESTREAM_RERATE_BOOK_PAGE: "1",
    });
    expect(killed.code).toBeNull();
    expect((await rerateEntries(c.s)).length).toBe(2);

    // While another --apply holds the lock, none starts.
    const release = (await lockApply(c.s.rig.pool))!;
    const locked = await rerate(c, ["--apply", "--run", "crash"]);
    await release();
    expect(locked.code).toBe(2);
    expect(locked.stderr).toMatch(/another `rerate --apply` is running on this database/);

    // Another run must wait: it would correct calls the unfinished one is correcting.
    const other = await rerate(c, ["--apply", "--run", "other"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/run "crash" was not finished: run its command again/);

    const resumed = await rerate(c, ["--apply", "--run", "crash"], { RATESTREAM_RERATE_BOOK_PAGE: "1" });
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectCorrected(c, "crash", before);

    // Killed in Redis before the ledger, on the later run's first account: nothing left to do anyway.
    const killedEarly = await rerate(c, ["--apply", "--run", "crash-2"], { RATESTREAM_FAULT: "after_redis" });
    expect(killedEarly.code).toBe(0);
    expect(summaryOf(killedEarly.stdout)).toMatchObject({ changed: 0 });
    await expectCorrected(c, "crash", before);
  }, 240_000);

  it("reads the calls from --input and refuses bad options with a message", async () => {
    const c = await chargedUnderWrongDeck(60);
    const want = expected(c);
    const input = join(c.report, "..", "calls.jsonl");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(input, [...c.calls, ...c.calls].map((x) => JSON.stringify(x)).join("\n") + "\n");
    const fromFile = await rerate(c, ["--input", input]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(summaryOf(fromFile.stdout)).toMatchObject({
      calls_read: c.calls.length,
      changed: want.changed.size,
      not_in_ledger: 0,
    });

    // --plan (SPEC §10): only that plan's accounts, by its version.
    const onDefault = await rerate(c, ["--input", input, "--plan", "default"]);
    expect(onDefault.code, onDefault.stderr).toBe(0);
    expect(summaryOf(onDefault.stdout)).toEqual(summaryOf(fromFile.stdout));
    const d = await decks();
    await importDeckSet(c.s.rig.pool, { rates: { file: "rates.csv", text: d.fixed } }, "gold");
    const onGold = await rerate(c, ["--input", input, "--plan", "gold"]);
    expect(onGold.code, onGold.stderr).toBe(0);
    expect(summaryOf(onGold.stdout)).toMatchObject({ calls_read: 0, changed: 0 });
    const noPlan = await rerate(c, ["--plan", "silver"]);
    expect(noPlan.code).toBe(2);
    expect(noPlan.stderr).toMatch(/plan "silver" has no rate version/);

    const noRun = await rerate(c, ["--apply"]);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toMatch(/--apply needs --run/);
    const badVersion = await rerate(c, ["--version", "99"]);
    expect(badVersion.code).toBe(2);
    expect(badVersion.stderr).toMatch(/no rate version 99/);
    const badTime = await ratestream(["rerate", "--from", "2026-11-20T00:00:00", "--to", "2026-11-21"]);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/no zone/);
  }, 240_000);
});
