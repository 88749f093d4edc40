/**
 * A throw-away Postgres cluster of a test's own (initdb in a temporary folder, its own
 * port and socket folder, trust authentication), to stop and restart at will without
 * touching the shared server other tests use. Postgres refuses to run as root, so when
 * the tests run as root its commands run as the `postgres` user, in a folder it owns.
 *
 * The handle is rebuilt from its folder alone (`privatePostgres(dir, port)`), so a global
 * set-up can create the cluster and a test file restart it.
 */
import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PrivatePostgres {
  port: number;
  dir: string;
  /** DATABASE_URL of the given database on this cluster. */
  url(database?: string): string;
  /** initdb (once) and start; creates the database `ratestream`. */
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: as a crash, no checkpoint; the data stays. */
  crash(): Promise<void>;
  /** A clean stop (`-m fast`). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the cluster if it runs and deletes its folder. */
  destroy(): Promise<void>;
}

/** The newest installed server's bin folder (Debian layout), or the PATH. */
function binDir(): string {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return "";
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : "";
}

/** The `postgres` system user (Debian's package) when running as root, which Postgres refuses. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

export function privatePostgres(dir: string, port: number): PrivatePostgres {
  const bin = binDir();
  const tool = (name: string) => (bin ? join(bin, name) : name);
  const data = join(dir, "data");
  const log = join(dir, "postgres.log");
  const asPostgres = async (cmd: string, args: string[]) => {
    const user = process.getuid?.() === 0 ? "postgres" : undefined;
    const [file, argv] = user ? ["runuser", ["-u", user, "--", cmd, ...args]] : [cmd, args];
    return run(file, argv, { timeout: 60_000 });
  };
  const ready = async () =>
    run(tool("pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port)]).then(
      () => true,
      () => false,
    );
  const waitReady = async () => {
    for (let i = 0; i < 300; i++) {
      if (await ready()) return;
      await sleep(100);
    }
    throw new Error(`private postgres on ${port} did not start; see ${log}`);
  };
  const pgCtl = (...args: string[]) => asPostgres(tool("pg_ctl"), ["-D", data, ...args]);
  const start = async () => {
    await pgCtl(
      "start",
      "-w",
      "-l",
      log,
      "-o",
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`,
    );
    await waitReady();
  };
  const running = () => existsSync(join(data, "postmaster.pid"));

  return {
    port,
    dir,
    url: (database = "ratestream") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      if (!existsSync(join(data, "PG_VERSION"))) {
        mkdirSync(dir, { recursive: true });
        const user = postgresUser();
        if (user) chownSync(dir, user.uid, user.gid);
        await asPostgres(tool("initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        await start();
        await run(tool("psql"), [
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
          "-qc",
          "create database ratestream",
        ]);
        return;
      }
      await start();
    },
    async crash() {
      await pgCtl("stop", "-m", "immediate", "-w");
    },
    async stop() {
      if (running()) await pgCtl("stop", "-m", "fast", "-w");
    },
    async restart() {
      await pgCtl("stop", "-m", "immediate", "-w");
      await start();
    },
    async destroy() {
      if (running()) await pgCtl("stop", "-m", "immediate", "-w").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
