/**
 * Keeps, for a running rater, the newest rate version of every plan and the plan of
 * every account in memory (SPEC §10), and follows changes without a restart: LISTEN for
 * imports and changes of plan (immediate), plus a slow poll in case a notification is
 * lost while the listening connection reconnects. Rating a CDR then costs two map
 * lookups, never a Postgres round trip; only an account not seen yet (created a moment
 * ago) is read from Postgres, once.
 */
import pg from "pg";
import type { RateTable } from "../../core/rating/rate-table.js";
import type { Logger } from "../../observability/logger.js";
import { DEFAULT_PLAN, loadRateTable, newestVersions } from "./rate-versions.js";

export const RATE_VERSIONS_CHANNEL = "ratestream_rate_versions";
export const ACCOUNT_PLANS_CHANNEL = "ratestream_account_plans";

export interface RateTableWatcherOptions {
  pool: pg.Pool;
  /** For the LISTEN connection; the pool's search_path is used for the schema. */
  databaseUrl: string;
  logger: Logger;
  pollIntervalMs?: number;
  onChange?: (table: RateTable) => void;
}

/** What an account is priced by: its plan and that plan's newest version (undefined: none yet). */
export interface AccountPricing {
  plan: string;
  table: RateTable | undefined;
}

/** How the rater, the API and the sessions find an account's prices. */
export interface PlanBook {
  /** From memory only; undefined when the account is not known here (yet). */
  pricingOf(accountId: string): AccountPricing | undefined;
  /** Reads the plans of accounts not known here yet (one query); unknown ones stay unknown. */
  learnAccounts(accountIds: Iterable<string>): Promise<void>;
  /** True once any plan has a version: until then there is nothing to rate with. */
  anyVersion(): boolean;
}

/** The account's pricing, read from Postgres only when it is not in memory; undefined: no account. */
export async function pricingFor(book: PlanBook, accountId: string): Promise<AccountPricing | undefined> {
  const known = book.pricingOf(accountId);
  if (known) return known;
  await book.learnAccounts([accountId]);
  return book.pricingOf(accountId);
}

export class RateTableWatcher implements PlanBook {
  private readonly tables = new Map<string, RateTable>();
  private readonly accountPlans = new Map<string, string>();
  /** The highest accounts.plan_rev applied: the next poll asks for what came after. */
  private planRev = 0n;
  private schema = "public";
  private listener: pg.Client | undefined;
  private poll: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  /** A refresh is queued and not started: another notification need not queue one more. */
  private queued = false;
  private stopped = false;

  constructor(private readonly options: RateTableWatcherOptions) {}

  /** The default plan's version in force; undefined until one has been imported. */
  current(): RateTable | undefined {
    return this.tables.get(DEFAULT_PLAN);
  }

  /** The newest version of a plan loaded here. */
  table(plan: string): RateTable | undefined {
    return this.tables.get(plan);
  }

  plans(): RateTable[] {
    return [...this.tables.values()];
  }

  anyVersion(): boolean {
    return this.tables.size > 0;
  }

  pricingOf(accountId: string): AccountPricing | undefined {
    const plan = this.accountPlans.get(accountId);
    return plan === undefined ? undefined : { plan, table: this.tables.get(plan) };
  }

  async learnAccounts(accountIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(accountIds)].filter((id) => !this.accountPlans.has(id));
    if (missing.length === 0) return;
    const { rows } = await this.options.pool.query<{ account_id: string; plan: string }>(
      "select account_id, plan from accounts where account_id = any($1::text[])",
      [missing],
    );
    for (const row of rows) this.setPlan(row.account_id, row.plan);
  }

  async start(): Promise<void> {
    const { rows } = await this.options.pool.query<{ schema: string }>("select current_schema() as schema");
    this.schema = rows[0]?.schema ?? "public";
    await this.refresh();
    await this.listen();
    this.poll = setInterval(() => void this.refresh(), this.options.pollIntervalMs ?? 30_000);
    this.poll.unref();
  }

  /**
   * Loads every plan's newest version not loaded yet and every change of an account's
   * plan since the last one applied. Calls never overlap; a burst of notifications
   * queues one refresh, not one per notification.
   */
  refresh(): Promise<void> {
    if (this.queued) return this.refreshing;
    this.queued = true;
    this.refreshing = this.refreshing.then(async () => {
      this.queued = false;
      await this.refreshVersions();
      await this.refreshAccounts();
    });
    return this.refreshing;
  }

  private async refreshVersions(): Promise<void> {
    try {
      const newest = await newestVersions(this.options.pool);
      for (const [plan, version] of newest) {
        if (this.tables.get(plan)?.version === version) continue;
        const table = await loadRateTable(this.options.pool, version, plan);
        if (!table || this.stopped) return;
        const previous = this.tables.get(plan)?.version ?? null;
        this.tables.set(plan, table);
        this.options.logger.info(
          { plan, version: table.version, previous, rows: table.counts },
          "rate version in force",
        );
        this.options.onChange?.(table);
      }
    } catch (err) {
      this.options.logger.error({ err }, "could not load the newest rate versions; keeping those in force");
    }
  }

  private async refreshAccounts(): Promise<void> {
    try {
      for (;;) {
        const { rows } = await this.options.pool.query<{
          account_id: string;
          plan: string;
          plan_rev: string;
        }>(
          "select account_id, plan, plan_rev from accounts where plan_rev > $1 order by plan_rev limit 50000",
          [this.planRev.toString()],
        );
        for (const row of rows) {
          const before = this.accountPlans.get(row.account_id);
          this.setPlan(row.account_id, row.plan);
          if (before !== undefined && before !== row.plan && this.planRev > 0n) {
            this.options.logger.info(
              { accountId: row.account_id, plan: row.plan, previous: before },
              "account moved to another plan",
            );
          }
          this.planRev = BigInt(row.plan_rev);
        }
        if (rows.length < 50_000) return;
      }
    } catch (err) {
      this.options.logger.error({ err }, "could not read accounts' plans; keeping those known");
    }
  }

  /** Plan names are shared strings: a million accounts on 20 plans keep 20 copies. */
  private setPlan(accountId: string, plan: string): void {
    const shared = this.tables.get(plan)?.plan ?? plan;
    this.accountPlans.set(accountId, shared);
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: "ratestream-listen",
    });
    client.on("notification", (message) => {
      if (message.payload?.startsWith(`${this.schema}:`)) void this.refresh();
    });
    client.on("error", (err) => {
      this.options.logger.warn({ err }, "rate plan listener lost its connection; reconnecting");
      this.listener = undefined;
      void client.end().catch(() => undefined);
      setTimeout(() => void this.listen().catch(() => undefined), 1_000).unref();
    });
    try {
      await client.connect();
      await client.query(`listen ${RATE_VERSIONS_CHANNEL}`);
      await client.query(`listen ${ACCOUNT_PLANS_CHANNEL}`);
      this.listener = client;
      // An import or a move may have landed between the first load and LISTEN.
      await this.refresh();
    } catch (err) {
      this.options.logger.warn({ err }, "could not LISTEN for rate plans; polling only until it can");
      await client.end().catch(() => undefined);
      setTimeout(() => void this.listen().catch(() => undefined), 5_000).unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    await this.listener?.end().catch(() => undefined);
    await this.refreshing;
  }
}

/**
 * One table for every account, the write path deciding which accounts exist: for tests
 * and tools that rate without plans.
 */
export function singlePlanBook(table: RateTable): PlanBook {
  const pricing = { plan: table.plan ?? DEFAULT_PLAN, table };
  return {
    pricingOf: () => pricing,
    learnAccounts: () => Promise.resolve(),
    anyVersion: () => true,
  };
}
