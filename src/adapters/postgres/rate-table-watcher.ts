/**
 * Keeps the newest rate version in memory for a running rater and switches to a new
 * one without a restart: LISTEN for imports (immediate), plus a slow poll in case a
 * notification is lost while the listening connection reconnects.
 */
import pg from "pg";
import type { RateTable } from "../../core/rating/rate-table.js";
import type { Logger } from "../../observability/logger.js";
import { loadRateTable, newestVersion } from "./rate-versions.js";

export const RATE_VERSIONS_CHANNEL = "ratestream_rate_versions";

export interface RateTableWatcherOptions {
  pool: pg.Pool;
  /** For the LISTEN connection; the pool's search_path is used for the schema. */
  databaseUrl: string;
  logger: Logger;
  pollIntervalMs?: number;
  onChange?: (table: RateTable) => void;
}

export class RateTableWatcher {
  private table: RateTable | undefined;
  private schema = "public";
  private listener: pg.Client | undefined;
  private poll: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: RateTableWatcherOptions) {}

  /** The version in force now; undefined until a version has been imported. */
  current(): RateTable | undefined {
    return this.table;
  }

  async start(): Promise<void> {
    const { rows } = await this.options.pool.query<{ schema: string }>("select current_schema() as schema");
    this.schema = rows[0]?.schema ?? "public";
    await this.refresh();
    await this.listen();
    this.poll = setInterval(() => void this.refresh(), this.options.pollIntervalMs ?? 30_000);
    this.poll.unref();
  }

  /** Loads the newest version if it is newer than the one in force. Calls never overlap. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(async () => {
      try {
        const newest = await newestVersion(this.options.pool);
        if (newest === undefined || newest === this.table?.version) return;
        const table = await loadRateTable(this.options.pool, newest);
        if (!table || this.stopped) return;
        const previous = this.table?.version ?? null;
        this.table = table;
        this.options.logger.info(
          { version: table.version, previous, rows: table.counts },
          "rate version in force",
        );
        this.options.onChange?.(table);
      } catch (err) {
        this.options.logger.error(
          { err },
          "could not load the newest rate version; keeping the one in force",
        );
      }
    });
    return this.refreshing;
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
      this.options.logger.warn({ err }, "rate version listener lost its connection; reconnecting");
      this.listener = undefined;
      void client.end().catch(() => undefined);
      setTimeout(() => void this.listen().catch(() => undefined), 1_000).unref();
    });
    try {
      await client.connect();
      await client.query(`listen ${RATE_VERSIONS_CHANNEL}`);
      this.listener = client;
      // An import may have landed between the first load and LISTEN.
      await this.refresh();
    } catch (err) {
      this.options.logger.warn({ err }, "could not LISTEN for rate versions; polling only until it can");
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
