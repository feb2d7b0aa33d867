/**
 * Benchmark, on a Citus cluster: the same GraphQL reads with the tenant filter that routes them to
 * one shard (src/graphql-routing.ts) and without it (every shard), side by side. Sets up and drops
 * its own database, as `npm run test:citus` does. Prints figures; asserts nothing.
 *
 *   CITUS_URLS=<coordinator>,<worker>,… npm run bench:citus [-- requests]   # default 200
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import globalSetup from "../test/citus/global-setup";
import globalTeardown from "../test/citus/global-teardown";
import { closePool, seedClinicalRows, signUpClinic, startServer, type Clinic } from "../test/helpers";
import { percentile } from "./http";

const requests = Number(process.argv[2] ?? 200);
const operation = (name: string) => readFileSync(path.join(__dirname, "../client/operations", `${name}.graphql`), "utf8");
const week = { from: new Date().toISOString(), to: new Date(Date.now() + 7 * 86_400_000).toISOString() };

const READS: Record<string, { query: string; variables: Record<string, unknown> }> = {
  // The README's schedule.
  WeekSchedule: { query: operation("WeekSchedule"), variables: week },
  "doctors and patient count": { query: "{ doctors { nodes { fullName } } patients { totalCount } }", variables: {} },
};

async function latencies(clinic: Clinic, tenantRouting: boolean, read: (typeof READS)[string]) {
  const app = await startServer({ tenantRouting });
  try {
    const times: number[] = [];
    let failed = 0;
    for (let i = 0; i < requests + 10; i++) {
      const started = performance.now();
      const { body } = await app.graphql(clinic.admin.token, read.query, read.variables);
      if (i >= 10) times.push(performance.now() - started); // the first ten warm the pool
      if (body.errors) failed++;
    }
    return { times, failed };
  } finally {
    await app.close();
  }
}

async function main() {
  await globalSetup();
  try {
    const clinic = await signUpClinic();
    await seedClinicalRows(clinic);
    console.log(`${requests} requests each, one clinic, ${globalThis.__citusDatabase?.nodes.length} nodes`);
    for (const [name, read] of Object.entries(READS)) {
      const figures = [];
      for (const routing of [true, false]) {
        const { times, failed } = await latencies(clinic, routing, read);
        const label = routing ? "one shard (filter)" : "every shard";
        figures.push(percentile(times, 0.5));
        console.log(
          `${name.padEnd(28)} ${label.padEnd(20)} p50 ${percentile(times, 0.5).toFixed(1).padStart(6)} ms  p95 ${percentile(times, 0.95).toFixed(1).padStart(6)} ms  failed ${failed}`,
        );
      }
      console.log(`${name.padEnd(28)} every shard / one shard, p50: ${(figures[1] / figures[0]).toFixed(2)}×`);
    }
  } finally {
    await closePool();
    await globalTeardown();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
