import { writeFileSync } from "node:fs";
import { printSchemaSdl } from "../src/schema-sdl";
import { authenticatorUrl } from "./helpers";

test("dump schema", async () => {
  const sdl = await printSchemaSdl(authenticatorUrl());
  writeFileSync("/tmp/clinic-offices-schema.graphql", sdl);
  expect(sdl.length).toBeGreaterThan(0);
});
