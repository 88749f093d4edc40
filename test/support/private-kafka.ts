/**
 * A single-node KRaft Kafka broker of a test's own, on ports and in a folder of its own,
 * from the jars scripts/services caches (~/.cache/ratestream/kafka-4.1.1, fetched by
 * `scripts/services up`). It can be killed (SIGKILL) or stopped (SIGTERM) and started
 * again on the same folder: a restart keeps its log, topics and committed offsets.
 *
 * The handle is rebuilt from its folder alone (the pid is in a file), so a global set-up
 * can format and start the broker and a test file restart it.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const KAFKA_VERSION = "4.1.1";
const CONF = fileURLToPath(new URL("../../scripts/services.d/", import.meta.url));

export interface PrivateKafka {
  port: number;
  brokers: string;
  /** Formats the storage (once) and starts the broker; resolves when it serves. */
  start(): Promise<void>;
  /** Sends the signal and waits for the JVM to exit (SIGKILL: a crash; SIGTERM: a controlled shutdown). */
  stop(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
  restart(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** Stops the broker if it runs and deletes its folder. */
  destroy(): Promise<void>;
  log(): string;
}

function kafkaHome(): string {
  const cache = process.env.RATESTREAM_CACHE ?? join(homedir(), ".cache", "ratestream");
  const home = join(cache, `kafka-${KAFKA_VERSION}`);
  if (!existsSync(join(home, "libs", `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    throw new Error(`no Kafka jars in ${home}: run scripts/services up once to fetch them`);
  }
  return home;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function privateKafka(dir: string, port: number, controllerPort = port + 1): PrivateKafka {
  const props = join(dir, "server.properties");
  const data = join(dir, "data");
  const logFile = join(dir, "kafka.log");
  const pidFile = join(dir, "kafka.pid");
  const javaOpts = () => [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${join(CONF, "log4j2.properties")}`,
    "-cp",
    `${join(kafkaHome(), "libs")}/*`,
  ];
  const pid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined);
  const serving = () => readFileSync(logFile, "utf8").includes("Kafka Server started");

  const stop = async (signal: "SIGKILL" | "SIGTERM" = "SIGKILL") => {
    const p = pid();
    if (p === undefined || !alive(p)) return;
    process.kill(p, signal);
    for (let i = 0; i < 600 && alive(p); i++) await sleep(50);
    if (alive(p)) {
      process.kill(p, "SIGKILL");
      for (let i = 0; i < 200 && alive(p); i++) await sleep(50);
    }
    rmSync(pidFile, { force: true });
  };

  const start = async () => {
    mkdirSync(dir, { recursive: true });
    if (!existsSync(props)) {
      const template = readFileSync(join(CONF, "kafka.properties.template"), "utf8");
      writeFileSync(
        props,
        template
          .replaceAll("@KAFKA_PORT@", String(port))
          .replaceAll("@CONTROLLER_PORT@", String(controllerPort))
          .replaceAll("@DATA_DIR@", data) +
          // A SIGKILLed broker's registration expires sooner, so its restart waits 2 s, not 9 s.
          "broker.session.timeout.ms=2000\nbroker.heartbeat.interval.ms=500\n",
      );
    }
    if (!existsSync(join(data, "meta.properties"))) {
      // 22 chars of URL-safe base64, not starting with "-" (it would read as an option).
      const clusterId = `A${randomBytes(16).toString("base64url").slice(1, 22)}`;
      await run("java", [...javaOpts(), "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", props], {
        timeout: 120_000,
      });
    }
    if (await portOpen(port)) throw new Error(`port ${port} is taken: is another broker running there?`);
    const out = openSync(logFile, "w");
    const child = spawn("java", [...javaOpts(), "kafka.Kafka", props], {
      detached: true,
      stdio: ["ignore", out, out],
    });
    child.unref();
    writeFileSync(pidFile, String(child.pid));
    const deadline = Date.now() + 90_000;
    while (!(serving() && (await portOpen(port)))) {
      if (!alive(child.pid!)) throw new Error(`private Kafka exited during start-up:\n${tail(logFile)}`);
      if (Date.now() > deadline)
        throw new Error(`private Kafka did not start within 90 s:\n${tail(logFile)}`);
      await sleep(100);
    }
  };

  return {
    port,
    brokers: `127.0.0.1:${port}`,
    start,
    stop,
    async restart(signal = "SIGKILL") {
      await stop(signal);
      await start();
    },
    async destroy() {
      await stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
  };
}

function tail(file: string, lines = 30): string {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-lines).join("\n") : "";
}
