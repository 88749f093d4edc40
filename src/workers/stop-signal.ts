/**
 * The stop of a long-running consumer (the rater, the balance-events workers): the first
 * SIGTERM or SIGINT calls `onStop` (the caller stops taking work) and resolves, so the
 * caller can let the item in flight finish and disconnect; if that takes longer than
 * `graceMs`, the process exits 1 rather than hang. Later signals are ignored.
 */
import type { Logger } from "../observability/logger.js";

export function untilStopSignal(
  logger: Logger,
  options: { inFlight: string; graceMs: number; onStop: () => void },
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      options.onStop();
      logger.info({ signal }, `stopping: finishing the ${options.inFlight} in flight`);
      const force = setTimeout(() => {
        logger.error({ graceMs: options.graceMs }, "shutdown took too long; exiting");
        process.exit(1);
      }, options.graceMs);
      force.unref();
      resolve();
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}
