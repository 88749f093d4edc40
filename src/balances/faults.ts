/**
 * Named fault points for crash tests: RATESTREAM_FAULT=<point>[:<n>[:bug|:stop]] makes
 * the process SIGKILL itself the n-th time (default 1st) it reaches that point, so a test
 * can stop it between any two effects on purpose; with `:bug` it throws a TypeError there
 * instead, as a programming error would; with `:stop` it SIGSTOPs itself, so a test can
 * make it a zombie (its partitions move on) and SIGCONT it later. `after_publish` is the
 * last: the offset commit follows it directly. Unset in production: a no-op check; set,
 * the process says so at start-up (`faultWarning`), so a stray setting cannot go unseen.
 */
export const FAULT_POINTS = [
  "after_dedupe",
  "after_redis",
  "after_ledger",
  "after_confirm",
  "after_publish",
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export interface Faults {
  reach(point: FaultPoint): void;
}

export const NO_FAULTS: Faults = { reach: () => undefined };

export function faultsFromEnv(value: string | undefined): Faults {
  if (!value) return NO_FAULTS;
  const [point, nth, mode] = value.split(":");
  if (!FAULT_POINTS.includes(point as FaultPoint)) {
    throw new Error(`RATESTREAM_FAULT: "${point}" is not one of ${FAULT_POINTS.join(", ")}`);
  }
  let remaining = nth === undefined ? 1 : Number(nth);
  return {
    reach(reached) {
      if (reached !== point || --remaining !== 0) return;
      if (mode === "bug") throw new TypeError(`RATESTREAM_FAULT: a bug planted at ${point}`);
      if (mode === "stop") return void process.kill(process.pid, "SIGSTOP");
      process.kill(process.pid, "SIGKILL");
    },
  };
}

/** The start-up warning for a planted fault, or undefined when none is set. */
export function faultWarning(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return `RATESTREAM_FAULT=${value} is set: this process will kill, stop or fail itself on purpose (crash tests only; unset it in production)`;
}
