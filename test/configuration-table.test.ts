/**
 * Configuration cannot drift: VARIABLES in src/config.ts is every variable the project reads, the
 * README's table is generated from it, and nothing else reads the environment.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { loadConfig, VARIABLES, type Environment, type Variable } from "../src/config";
import { README, readmeWithConfigurationTable } from "../src/cli/config-docs";

const root = path.resolve(__dirname, "..");
const table: [string, Variable][] = Object.entries(VARIABLES);
const namesReadBy = (reader: Variable["readBy"]) =>
  table.filter(([, variable]) => variable.readBy === reader).map(([name]) => name);

/** The project's TypeScript files under `folder`, recursively, as [relative path, text]. */
function sources(folder: string): [string, string][] {
  return readdirSync(path.join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.startsWith("generated"))
    .map((file) => [path.join(folder, file), readFileSync(path.join(root, folder, file), "utf8")]);
}

test("the README's configuration table is the one generated from VARIABLES (else run npm run docs:config)", async () => {
  const readme = readFileSync(README, "utf8");
  expect(readme).toBe(await readmeWithConfigurationTable(readme));
});

test("loadConfig reads exactly the table's app variables", () => {
  const read = new Set<string>();
  const recording = (values: Environment) =>
    new Proxy(values, {
      get: (target, key) => {
        if (typeof key === "string") read.add(key);
        return Reflect.get(target, key);
      },
    });
  // Development reads EMBEDDED_PG_PORT; production with an external database reads the rest.
  loadConfig(recording({}));
  loadConfig(
    recording({
      NODE_ENV: "production",
      DATABASE_URL: "postgres://o@db/clinic",
      AUTH_DATABASE_URL: "postgres://a@db/clinic",
      JWT_SECRET: "0123456789abcdef0123456789abcdef",
      SMTP_URL: "smtp://mail.example:587",
    }),
  );
  expect([...read].sort()).toEqual(namesReadBy(undefined).sort());
});

test("no code but src/config.ts reads the environment", () => {
  // Handing the whole environment on to a child process (`...process.env`, the benchmark's
  // servers) reads no variable; any other use of it does.
  const handsOn = /\.\.\.process\.env\b/g;
  const readsEnvironment = /\bprocess\s*(\.\s*env\b|\[\s*["'`]env)|\benv\s*\}\s*=\s*process\b|["'](node:)?process["']/;
  const readers = [...sources("src"), ...sources("bench"), ...sources("client")]
    .filter(([file, text]) => file !== path.join("src", "config.ts") && readsEnvironment.test(text.replace(handsOn, "")))
    .map(([file]) => file);
  expect(readers).toEqual([]);
});

/**
 * Test code may read the table's test variables, what test/global-setup.ts hands to the test files
 * through the environment (jest runs them in other contexts), and PATH and HOME to pass on to a
 * child process; anything else is an undocumented variable.
 */
test("test code reads only the table's test variables", () => {
  const tests = sources("test");
  const named = (pattern: RegExp) => new Set(tests.flatMap(([, text]) => [...text.matchAll(pattern)].map((match) => match[1])));
  const handedOver = named(/process\.env\.(\w+)\s*=(?!=)/g);
  const read = named(/process\.env\.(\w+)\b(?!\s*=(?!=))/g);
  const allowed = new Set([...namesReadBy("tests"), ...handedOver, "PATH", "HOME"]);
  expect([...read].filter((name) => !allowed.has(name))).toEqual([]);
  expect(namesReadBy("tests").filter((name) => !read.has(name))).toEqual([]);
  expect(tests.filter(([, text]) => /process\.env\s*\[/.test(text)).map(([file]) => file)).toEqual([]);
});

test("`.gmrc`'s environment placeholders are the table's DBA variables", () => {
  const gmrc = JSON.parse(readFileSync(path.join(root, ".gmrc"), "utf8")) as { placeholders: Record<string, string> };
  const fromEnvironment = Object.entries(gmrc.placeholders)
    .filter(([, value]) => value === "!ENV")
    .map(([placeholder]) => placeholder.replace(/^:/, ""));
  expect(fromEnvironment.length).toBeGreaterThan(0);
  expect(fromEnvironment.filter((name) => !namesReadBy("dba").includes(name))).toEqual([]);
});
