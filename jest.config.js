/** One test file per feature; native tests need the addon built (npm run compile). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { strict: true, esModuleInterop: true, target: 'ES2022', module: 'commonjs', types: ['node', 'jest'] }, diagnostics: { warnOnly: false } }] },
  testTimeout: 120000,
};
