import { defineConfig } from "vitest/config";
import { CHAOS_ENV } from "./test/chaos/support/servers.js";

// Unit tests touch nothing outside the process; integration tests talk to the real
// Kafka, registry, Redis and Postgres that scripts/services starts; the chaos suite
// (`npm run test:chaos`) runs serially against private servers it kills and restarts.
export default defineConfig({
  test: {
    // `npm test` runs the unit project with --coverage: what the tests that need no
    // server reach of src/ (see README "Tests"). The servers' suites run most code in
    // child processes (the rater, the workers, the CLI), which V8 coverage of the test
    // process cannot see, so they are not measured.
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary", "html"],
      reportsDirectory: "coverage",
    },
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
      {
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          globalSetup: ["test/chaos/global-setup.ts"],
          env: { ...CHAOS_ENV, LOG_LEVEL: "silent", KAFKAJS_NO_PARTITIONER_WARNING: "1" },
          fileParallelism: false,
          sequence: { concurrent: false },
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
