import { writeFileSync } from "node:fs";
import { printSchemaSdl } from "../src/schema-sdl";
import { authenticatorUrl } from "./helpers";
test("tmp", async () => {
  writeFileSync("/tmp/auth-e2e-schema.graphql", await printSchemaSdl(authenticatorUrl()));
  expect(1).toBe(1);
});
