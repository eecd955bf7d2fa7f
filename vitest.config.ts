import { defineConfig } from 'vitest/config';

// Tests talk to real Redis/PostgreSQL started by tests/globalSetup.ts (private processes unless
// REDIS_URL / DATABASE_URL are given). Files run in parallel workers; each uses its own key prefix
// (Redis logical database or province codes) so they never see each other's data.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.data/**'],
    globalSetup: ['tests/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
