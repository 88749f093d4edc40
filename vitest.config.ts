import { defineConfig } from "vitest/config";

// Unit tests touch nothing outside the process; integration tests talk to the real
// Kafka, registry, Redis and Postgres that scripts/services starts.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
