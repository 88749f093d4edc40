/**
 * CPU seconds spent by each server of the pipeline, read from /proc: on a machine whose
 * two cores are shared by the rater, the broker, Redis and Postgres, throughput alone
 * hides where the work goes; CPU per CDR does not.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

interface Proc {
  pid: number;
  ppid: number;
  args: string;
  /** Own and reaped children's user + system time, in ticks. */
  ticks: number;
}

function processes(): Proc[] {
  const list: Proc[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command (which may contain spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0);
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
      list.push({ pid: Number(entry), ppid: Number(fields[1]), args, ticks });
    } catch {
      // the process ended meanwhile
    }
  }
  return list;
}

/**
 * CPU seconds so far of the shared servers (Kafka broker, Redis, Postgres) and of the
 * given processes (several pids under one name are summed).
 */
export function cpuSeconds(own: Record<string, (number | undefined)[]>): Record<string, number> {
  const all = processes();
  const sum = (procs: Proc[]) => procs.reduce((n, p) => n + p.ticks, 0) / TICKS_PER_SECOND;
  // Every cluster's postmaster and its backends (a second, tuned server may run beside the
  // machine's own: BENCHMARKS.md "what it would take").
  const postmasters = new Set(all.filter((p) => /postgres -D \S*\/main\b/.test(p.args)).map((p) => p.pid));
  const result: Record<string, number> = {
    kafka: sum(all.filter((p) => p.args.includes("kafka.Kafka") && p.args.includes("ratestream/state"))),
    redis: sum(all.filter((p) => p.args.startsWith("redis-server 127.0.0.1:6379"))),
    postgres:
      postmasters.size > 0 ? sum(all.filter((p) => postmasters.has(p.pid) || postmasters.has(p.ppid))) : NaN,
  };
  for (const [name, pids] of Object.entries(own)) {
    result[name] = pids.includes(undefined) ? NaN : sum(all.filter((p) => pids.includes(p.pid)));
  }
  return result;
}

export function cpuDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, Number((after[k]! - before[k]!).toFixed(2))]));
}
