// Real-kernel tests (network namespaces, bridges, TAPs, veths, Docker): root only, one file at a time,
// since several files start dockerd or bind the routers' fixed ports.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/netns/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
