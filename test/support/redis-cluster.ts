/**
 * A real three-master Redis Cluster on loopback for one test file: three
 * `redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`,
 * nothing kept on disk, stopped and removed afterwards.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LocalCluster {
  ports: number[];
  stop(): Promise<void>;
}

export async function startRedisCluster(basePort: number): Promise<LocalCluster> {
  const dir = await mkdtemp(join(tmpdir(), "ratestream-cluster-"));
  const ports = [basePort, basePort + 1, basePort + 2];
  const stop = async () => {
    await Promise.all(
      ports.map((p) => run("redis-cli", ["-p", String(p), "shutdown", "nosave"]).catch(() => undefined)),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const child = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "no",
          "--daemonize",
          "no",
        ],
        { stdio: "ignore", detached: true },
      );
      child.unref();
    }
    for (const port of ports) await waitFor(() => run("redis-cli", ["-p", String(port), "ping"]));
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await waitFor(async () => {
      const { stdout } = await run("redis-cli", ["-p", String(ports[0]), "cluster", "info"]);
      if (!stdout.includes("cluster_state:ok")) throw new Error("cluster not ready");
    });
    return { ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(check: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}
