/**
 * Tenant isolation, generated from the live schema (test/isolation-attack.ts): each role of
 * tenant B runs every query, filter, lookup and mutation against tenant A's seeded data
 * (test/isolation-later-table.test.ts shows that a table added later is covered too).
 */
import { buildSchema, type GraphQLSchema } from "postgraphile/graphql";
import { printSchemaSdl } from "../src/schema-sdl";
import { authenticatorUrl, roles, seedClinicalRows, signUpClinic, useServer, type Clinic } from "./helpers";
import { attack, snapshotOf, victimOf, type AttackReport, type Victim } from "./isolation-attack";

// The policies alone: without the tenant filter that routes reads on Citus (src/graphql-routing.ts),
// which would hide a leaky policy from this attack.
const server = useServer({ tenantRouting: false });
let schema: GraphQLSchema;
let a: Clinic;
let b: Clinic;
let victim: Victim;
let before: unknown;
const reports: Record<string, AttackReport> = {};

beforeAll(async () => {
  schema = buildSchema(await printSchemaSdl(authenticatorUrl(), roles()));
  [a, b] = [await signUpClinic(), await signUpClinic()];
  await seedClinicalRows(a);
  await seedClinicalRows(b);
  victim = await victimOf(server, schema, a);
  before = await snapshotOf(a.tenantId);
});

test.each(["admin", "doctor", "receptionist"] as const)(
  "tenant B's %s reads nothing of tenant A's and writes nothing to it",
  async (role) => {
    const report = await attack(server, schema, victim, { role, member: b[role], tenantId: b.tenantId });
    reports[role] = report;
    expect(report.violations).toEqual([]);
    expect(await snapshotOf(a.tenantId)).toEqual(before);
  },
);

test("every query field and every mutation of the schema was attacked", () => {
  const sent = new Set(Object.values(reports).flatMap((report) => report.operations.map((operation) => operation.split(" ")[1])));
  const fields = [...Object.keys(schema.getQueryType()!.getFields()), ...Object.keys(schema.getMutationType()!.getFields())];
  // `query` (the root re-exposed) and `id` (the root's node id) read no table.
  expect(fields.filter((name) => !sent.has(name) && !["query", "id", "nodeId"].includes(name))).toEqual([]);
  const total = Object.values(reports).reduce((sum, report) => sum + report.operations.length, 0);
  console.log(`Generated isolation attack: ${total} operations over ${fields.length} root fields, 3 roles.`);
  expect(total).toBeGreaterThan(300);
});
