import { pino, type Logger } from "pino";
import type { LogLevel } from "../config/env.js";

export type { Logger };

/** JSON logs on stderr (stdout belongs to commands' output); secrets never printed. */
export function createLogger(level: LogLevel, name = "ratestream"): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ["*.authorization", "*.headers.authorization", "*.apiKey", "*.password", "*.secret", "*.card"],
        censor: "[redacted]",
      },
    },
    pino.destination(2),
  );
}
