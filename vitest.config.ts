import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the end-to-end tests run the built binaries.
    alias: {
      '@faultline/protocol': src('protocol'),
      '@faultline/spec': src('spec'),
      '@faultline/testkit': src('testkit'),
      '@faultline/agent': src('agent'),
      '@faultline/controller': src('controller'),
      '@faultline/detector': src('detector'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./packages/testkit/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2 cores: tests that burn CPU or run servers must not starve each other.
    maxWorkers: 2,
  },
});
