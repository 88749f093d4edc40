/** `ratestream run` as a child process, on topics, group and schema of the test's own. */
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const BIN = new URL("../../bin/ratestream.js", import.meta.url).pathname;
let nextPort = 21_000 + Math.floor(Math.random() * 4_000);

export interface RaterProcess {
  port: number;
  /** The child's process id (to signal it, or read its state in /proc). */
  pid: number;
  /** Resolves when the process exits, with its code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export interface RaterOptions {
  databaseUrl: string;
  topicPrefix: string;
  group: string;
  fault?: string;
  env?: Record<string, string>;
}

export function startRater(options: RaterOptions): RaterProcess {
  // A short session timeout: a SIGKILLed member's partitions move on within seconds.
  return startCommand(
    [
      "run",
      "--topic-prefix",
      options.topicPrefix,
      "--group",
      options.group,
      "--max-wait-s",
      "0.1",
      "--session-timeout-s",
      "6",
    ],
    {
      DATABASE_URL: options.databaseUrl,
      ...(options.fault ? { RATESTREAM_FAULT: options.fault } : {}),
      ...options.env,
    },
  );
}

/** Any long-running `ratestream` command (run, recharge-worker, notify-worker) on an HTTP port of its own. */
export function startCommand(args: string[], env: Record<string, string>): RaterProcess {
  const port = nextPort++;
  let output = "";
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, HTTP_PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    port,
    pid: child.pid!,
    exited,
    stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
    output: () => output,
  };
}

/** Waits until /readyz answers 200, or the process exits (then throws with its output). */
export async function waitReady(rater: RaterProcess, timeoutMs = 30_000): Promise<void> {
  let exited = false;
  void rater.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`rater exited before it was ready:\n${rater.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${rater.port}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`rater not ready within ${timeoutMs} ms:\n${rater.output()}`);
}

/** The sum of a metric's series whose name and labels start with `series` (0 when none exists yet). */
export async function metric(target: RaterProcess, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${target.port}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(series))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** Polls until check() is true. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(150);
  }
}
