/** A redis-server of a test's own on a free loopback port, to stop and restart at will (empty, as it keeps nothing). */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PrivateRedis {
  url: string;
  start(): Promise<void>;
  /** SIGKILL: everything in it is lost. */
  kill(): Promise<void>;
}

/** `args`: further redis-server options, e.g. `["--maxmemory-policy", "allkeys-lru"]`. */
export function privateRedis(port: number, args: string[] = []): PrivateRedis {
  let child: ChildProcess | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
        {
          stdio: "ignore",
        },
      );
      for (let i = 0; i < 100; i++) {
        if (
          await run("redis-cli", ["-p", String(port), "ping"]).then(
            () => true,
            () => false,
          )
        )
          return;
        await sleep(50);
      }
      throw new Error(`redis-server on ${port} did not start`);
    },
    async kill() {
      if (!child) return;
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      child = undefined;
    },
  };
}
