/**
 * `npm run schema:export`: writes the GraphQL schema (SDL, sorted) to schema.graphql, from a
 * database set up by the migrations. A test compares the committed file with the live schema, so
 * every change to the API shows up in review. Needs AUTH_DATABASE_URL (clinic_authenticator).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { printSchemaSdl } from "../src/schema-sdl";

async function main() {
  const url = process.env.AUTH_DATABASE_URL;
  if (!url) throw new Error("Set AUTH_DATABASE_URL to clinic_authenticator's connection string.");
  const file = path.resolve(__dirname, "../schema.graphql");
  writeFileSync(file, await printSchemaSdl(url));
  console.log(`Wrote ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
