/**
 * The development loop on a real `npm start` (src/main.ts) with its own embedded database: a
 * second process beside it, `npm run db:env` for graphile-migrate, and watch mode. One server for
 * the file: its start (a new cluster, the migrations, the demo clinic) takes a while.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";

const root = path.resolve(__dirname, "..");
const tsx = path.join(root, "node_modules/.bin/tsx");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A new data folder; readable by all, as PostgreSQL may run as the OS user `postgres` (as root, see embedded.ts). */
function newDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "clinic-dev-loop-"));
  chmodSync(dir, 0o755);
  return dir;
}

/** The environment of a development `npm start` on `dataDir`, with nothing of the tests' database. */
function devEnv(dataDir: string, pgPort: number, httpPort: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(httpPort) };
  for (const name of ["DATABASE_URL", "AUTH_DATABASE_URL", "ROOT_DATABASE_URL", "NODE_ENV", "APP_URL", "SMTP_URL"])
    delete env[name];
  return { ...env, RUN_WORKER: "false", ...extra };
}

/** A running src/main.ts whose output is collected. */
class Running {
  output = "";
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk) => (this.output += chunk));
    child.stderr?.on("data", (chunk) => (this.output += chunk));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }
  static start(env: NodeJS.ProcessEnv, args: string[] = []) {
    // Node itself with tsx's loader, not the tsx wrapper: signals reach the process, exit codes are its own.
    return new Running(spawn(process.execPath, ["--import", "tsx", path.join(root, "src/main.ts"), ...args], { cwd: root, env }));
  }
  /** Resolves when the output matches, rejects when the process ends first or after `ms`. */
  async waitFor(pattern: RegExp, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    let ended = false;
    void this.exited.then(() => (ended = true));
    while (!pattern.test(this.output)) {
      if (ended || Date.now() > deadline) throw new Error(`no ${pattern} in the output:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** Runs src/main.ts to its end; its exit code and output. */
async function runToEnd(env: NodeJS.ProcessEnv, args: string[] = []) {
  const run = Running.start(env, args);
  const code = await run.exited;
  return { code, output: run.output };
}

/** The lines of the output that are the process's own (not npm's or Node's banner). */
const ownLines = (output: string) => output.split("\n").filter((line) => line.trim() !== "" && !/\bNode v\d/.test(line));

let dataDir: string;
let pgPort: number;
let httpPort: number;
let server: Running;

beforeAll(async () => {
  dataDir = newDataDir();
  pgPort = await freePort();
  httpPort = await freePort();
  server = Running.start(devEnv(dataDir, pgPort, httpPort));
  await server.waitFor(/Schema watch on/, 240_000);
}, 250_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

/** The exports `npm run db:env` prints, run by bash before `command`. */
const withDbEnv = async (command: string, extra: Record<string, string> = {}) =>
  promisify(execFile)("bash", ["-c", `set -e; eval "$("${tsx}" src/cli/db-env.ts)"; ${command}`], {
    cwd: root,
    env: devEnv(dataDir, pgPort, httpPort, extra),
  });

describe("a second process on the running embedded database", () => {
  test("a second npm start says in one line that the database is in use, and exits with 1", async () => {
    const { code, output } = await runToEnd(devEnv(dataDir, pgPort, await freePort()));
    expect(code).toBe(1);
    expect(ownLines(output)).toEqual([
      `The embedded database in ${path.join(dataDir, "postgres")} is already running on port ${pgPort} (another npm start): stop that one first, or beside it run only the worker (npm run worker).`,
    ]);
  });

  test("with another EMBEDDED_PG_PORT, the line names the port the database runs on", async () => {
    const { code, output } = await runToEnd(devEnv(dataDir, await freePort(), await freePort()));
    expect(code).toBe(1);
    expect(ownLines(output)).toEqual([expect.stringContaining(`is already running on port ${pgPort} (another npm start)`)]);
  });

  test("the worker alone runs beside npm start on its database, and leaves it running when it stops", async () => {
    const worker = Running.start(devEnv(dataDir, await freePort(), await freePort()), ["--worker-only"]);
    try {
      await worker.waitFor(/Worker connected and looking for jobs/, 60_000);
      expect(worker.output).toContain("Using the embedded database that npm start runs");
      expect(worker.output).not.toMatch(/undefined|Schema watch/);
    } finally {
      // graphile-worker's own SIGTERM handler ends the process by re-raising the signal (143).
      expect([0, 143]).toContain(await worker.stop());
    }
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    expect(await ready.json()).toEqual({ status: "ok" });
  });

  test("a database that cannot start says so in one line, never `undefined`", async () => {
    const otherDir = newDataDir();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    try {
      const { code, output } = await runToEnd(devEnv(otherDir, takenPort, await freePort()));
      expect(code).toBe(1);
      const own = ownLines(output).filter((line) => !line.startsWith("[postgres]"));
      expect(own).toEqual([
        `The embedded database in ${path.join(otherDir, "postgres")} did not start on port ${takenPort} (see the [postgres] lines above).`,
      ]);
    } finally {
      taken.close();
      rmSync(otherDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("npm run db:env", () => {
  test("prints the running database's URLs and the role passwords from the data folder", async () => {
    const secrets = JSON.parse(readFileSync(path.join(dataDir, "secrets.json"), "utf8"));
    const { stdout } = await withDbEnv(
      'echo "$ROOT_DATABASE_URL|$DATABASE_URL|$AUTH_DATABASE_URL|$SHADOW_DATABASE_URL|$OWNER_PASSWORD|$AUTHENTICATOR_PASSWORD"',
      { EMBEDDED_PG_PORT: String(await freePort()) },
    );
    const at = `127.0.0.1:${pgPort}`;
    expect(stdout.trim().split("|")).toEqual([
      `postgres://postgres:${secrets.superuserPassword}@${at}/postgres`,
      `postgres://clinic_owner:${secrets.ownerPassword}@${at}/clinic`,
      `postgres://clinic_authenticator:${secrets.authenticatorPassword}@${at}/clinic`,
      `postgres://clinic_owner:${secrets.ownerPassword}@${at}/clinic_shadow`,
      secrets.ownerPassword,
      secrets.authenticatorPassword,
    ]);
  });

  test("graphile-migrate works with them: status, and a shadow reset (superuser, placeholders, every migration)", async () => {
    const { stdout } = await withDbEnv("node_modules/.bin/graphile-migrate status");
    expect(stdout).toContain("Up to date.");
    const reset = await withDbEnv("node_modules/.bin/graphile-migrate reset --shadow --erase 2>&1");
    expect(reset.stdout).toMatch(/recreated database 'clinic_shadow'/);
    expect(reset.stdout).toMatch(/committed migrations executed/);
  }, 120_000);

  test("without an embedded database it says to run npm start first", async () => {
    const empty = newDataDir();
    try {
      await expect(
        promisify(execFile)(tsx, ["src/cli/db-env.ts"], { cwd: root, env: devEnv(empty, pgPort, httpPort) }),
      ).rejects.toMatchObject({
        code: 1,
        stdout: "",
        stderr: `There is no embedded database in ${empty} yet: run npm start once first.\n`,
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("watch mode in development", () => {
  const fieldsOf = async (type: string): Promise<string[]> => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ __type(name: "${type}") { fields { name } } }` }),
    });
    const { data } = await response.json();
    return data.__type.fields.map((field: { name: string }) => field.name);
  };
  const eventually = async (check: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return true;
  };

  test("a column a migration adds (as the owner) is served within seconds, without a restart; a dropped one goes", async () => {
    const { stdout } = await withDbEnv('echo "$DATABASE_URL"');
    const owner = new Client({ connectionString: stdout.trim() });
    await owner.connect();
    try {
      expect(await fieldsOf("SubscriptionPlan")).not.toContain("watchProbe");
      await owner.query("alter table app_public.subscription_plans add column watch_probe text");
      await owner.query("grant select (watch_probe) on app_public.subscription_plans to clinic_user");
      expect(await eventually(async () => (await fieldsOf("SubscriptionPlan")).includes("watchProbe"))).toBe(true);
      await owner.query("alter table app_public.subscription_plans drop column watch_probe");
      expect(await eventually(async () => !(await fieldsOf("SubscriptionPlan")).includes("watchProbe"))).toBe(true);
    } finally {
      await owner.query("alter table app_public.subscription_plans drop column if exists watch_probe");
      await owner.end();
    }
  });
});
