/**
 * The GraphQL schema is generated from the database; the committed schema.graphql is what
 * reviewers read. This fails when they drift. After an intended change, refresh the file with
 * `UPDATE_SCHEMA=1 npm test -- test/schema.test.ts` and commit it with the migration.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { printSchemaSdl } from "../src/schema-sdl";
import { authenticatorUrl, roles } from "./helpers";

const file = path.resolve(__dirname, "../schema.graphql");

test("the committed schema.graphql matches the schema generated from the migrations", async () => {
  const live = await printSchemaSdl(authenticatorUrl(), roles());
  if (process.env.UPDATE_SCHEMA === "1") writeFileSync(file, live);
  expect(live).toBe(readFileSync(file, "utf8"));
});

test("the schema exposes no private schema and no password or token field", async () => {
  const sdl = readFileSync(file, "utf8");
  expect(sdl).not.toMatch(/passwordHash|tokenHash|userSecret|passwordToken|appPrivate/i);
  expect(sdl).not.toMatch(/registerClinic|loginCandidate|setPasswordWithToken/);
});
