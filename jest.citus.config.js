/**
 * `npm run test:citus`: the Citus-specific tests, then the suites that matter most on a cluster
 * (isolation, the plan-limit race, double booking, the booking rules and their races, trial
 * read-only, jobs, e-mail across a crashed worker, patient notices, the waitlist), against a
 * database that test/citus/global-setup.ts distributes over the cluster named by CITUS_URLS.
 */
const base = require("./jest.config");

module.exports = {
  ...base,
  testMatch: [
    "<rootDir>/test/citus/*.test.ts",
    "<rootDir>/test/isolation-generated.test.ts",
    "<rootDir>/test/plan-limit.test.ts",
    "<rootDir>/test/appointments.test.ts",
    "<rootDir>/test/booking-rules.test.ts",
    "<rootDir>/test/trial-expiry.test.ts",
    "<rootDir>/test/jobs.test.ts",
    "<rootDir>/test/delivery-crash.test.ts",
    "<rootDir>/test/patient-notices.test.ts",
    "<rootDir>/test/waitlist.test.ts",
  ],
  testPathIgnorePatterns: ["/node_modules/"],
  // Every statement crosses nodes: the generated attack's hundreds of requests take minutes.
  testTimeout: 600000,
  globalSetup: "<rootDir>/test/citus/global-setup.ts",
  globalTeardown: "<rootDir>/test/citus/global-teardown.ts",
};
