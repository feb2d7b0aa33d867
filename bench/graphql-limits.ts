/**
 * Benchmark: a deep or wide GraphQL query is refused quickly, and a normal query keeps its
 * latency while a flood of such queries arrives on other connections. Prints figures side by
 * side; asserts nothing (timings belong here, not in tests).
 *
 *   npm start                                   # in another terminal (demo clinic)
 *   npm run bench:limits -- [base URL]          # default http://localhost:3000
 */
import { percentile, post as postTo } from "./http";

const base = process.argv[2] ?? "http://localhost:3000";
const NORMAL = "{ patients(first: 20) { nodes { fullName birthDate } } appointments(first: 20) { totalCount } }";
const DEEP = `{ currentUser { ${"tenant { doctors { nodes { ".repeat(8)}fullName${" } } }".repeat(8)} } }`;
const WIDE = `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: patients { nodes { fullName } }`).join(" ")} }`;

const post = (path: string, body: unknown, token?: string) => postTo(base, path, body, token);

const row = (name: string, values: number[]) =>
  console.log(
    `${name.padEnd(44)} ${values.length.toString().padStart(5)}  p50 ${percentile(values, 0.5).toFixed(1).padStart(7)} ms  p95 ${percentile(values, 0.95).toFixed(1).padStart(7)} ms`,
  );

async function normalLatencies(token: string, count: number) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push((await post("/graphql", { query: NORMAL }, token)).ms);
  return times;
}

/** The normal query's latencies while `clients` connections send deep and wide queries non-stop. */
async function underFlood(token: string, clients: number) {
  const refused: number[] = [];
  const codes = new Set<string>();
  let flooding = true;
  const flood = Array.from({ length: clients }, async (_, i) => {
    while (flooding) {
      const { ms, json } = await post("/graphql", { query: i % 2 ? DEEP : WIDE }, token);
      refused.push(ms);
      codes.add(json.errors?.[0]?.extensions?.code ?? "none");
    }
  });
  const normal = await normalLatencies(token, 200);
  flooding = false;
  await Promise.all(flood);
  return { normal, refused, codes };
}

async function main() {
  const login = await post("/auth/login", { email: "admin@demo.clinic", password: "demo-password-2026" });
  const token = login.json.token as string;
  await normalLatencies(token, 20); // warm-up
  console.log(`GraphQL limits benchmark against ${base} (Node ${process.version})`);
  row("normal query, alone", await normalLatencies(token, 200));
  for (const clients of [1, 4, 16]) {
    const { normal, refused, codes } = await underFlood(token, clients);
    row(`normal query, ${clients} client(s) flooding`, normal);
    row(`  deep/wide query, refused (${[...codes].join(", ")})`, refused);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
