/** Jest: TypeScript through ts-jest, one real PostgreSQL for the whole run (test/global-setup.ts). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // test/citus/ needs a Citus cluster: `npm run test:citus` (jest.citus.config.js).
  testPathIgnorePatterns: ["/node_modules/", "/test/citus/"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  globalSetup: "<rootDir>/test/global-setup.ts",
  globalTeardown: "<rootDir>/test/global-teardown.ts",
  testTimeout: 60000,
};
