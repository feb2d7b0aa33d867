/**
 * E-mail delivery across a crashed worker. The real worker process (`npm run worker`: src/main.ts
 * --worker-only) is killed with SIGKILL at each point of a delivery, against a real SMTP server
 * held at that point; a second process then takes over. Each recipient ends with exactly one
 * message where its fate was knowable, and the one whose fate is not is reported, not lost.
 *
 *   killed                                       delivery    after the restart
 *   connected, before the hand-over              not_sent    sent once by the second process
 *   the server has the message, no answer yet    sending     unknown: reported, resent only by an operator
 *   after `sent` was recorded, job not complete  sent        nothing more
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { tenantProgram } from "../src/cli/tenant";
import { asClaims, asOwner, authenticatorUrl, closePool, FIXTURE_HASH, ownerUrl, roles, signUpClinic, uniq } from "./helpers";
import { APP_URL, drainJobs, startSmtpCapture, type SmtpCapture } from "./mail";

const root = path.resolve(__dirname, "..");
const DEAD_AFTER_SECONDS = 2;

/** A worker process of its own, its output collected. */
class WorkerProcess {
  output = "";
  readonly exited: Promise<void>;
  private constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk) => (this.output += chunk));
    child.stderr?.on("data", (chunk) => (this.output += chunk));
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }
  static async start(smtp: SmtpCapture, env: Record<string, string> = {}) {
    const { anonymous, visitor } = roles();
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--worker-only"], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATA_DIR: mkdtempSync(path.join(tmpdir(), "clinic-worker-")),
        DATABASE_URL: ownerUrl(),
        AUTH_DATABASE_URL: authenticatorUrl(),
        DATABASE_ANONYMOUS_ROLE: anonymous,
        DATABASE_VISITOR_ROLE: visitor,
        SMTP_URL: smtp.url,
        APP_URL,
        WORKER_DEAD_AFTER_SECONDS: String(DEAD_AFTER_SECONDS),
        WORKER_CONCURRENCY: "1",
        JOB_OUTBOX_INTERVAL_MS: "100",
        LOG_LEVEL: "info",
        GRAPHILE_ENV: "development",
        ...env,
      },
    });
    const worker = new WorkerProcess(child);
    await until(() => /Worker running/.test(worker.output) || child.exitCode !== null, 60_000);
    if (child.exitCode !== null) throw new Error(`the worker exited:\n${worker.output}`);
    return worker;
  }
  async kill() {
    this.child.kill("SIGKILL");
    await this.exited;
  }
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited;
  }
}

/** A port nothing listens on. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 100 ms until it holds. @throws after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${ms} ms: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let smtp: SmtpCapture;
const running: WorkerProcess[] = [];
const startWorker = async (env?: Record<string, string>) => {
  const worker = await WorkerProcess.start(smtp, env);
  running.push(worker);
  return worker;
};

beforeAll(async () => {
  smtp = await startSmtpCapture();
  await drainJobs();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
  await drainJobs();
});
afterAll(async () => {
  await smtp.close();
  await closePool();
});

/** A clinic whose own e-mails are out of the way: the next job a worker takes is the test's. */
async function quietClinic() {
  const clinic = await signUpClinic();
  await drainJobs();
  return clinic;
}

/** A new receptionist of `clinic`: an account e-mail with a set-password link. */
async function newUser(clinic: Awaited<ReturnType<typeof signUpClinic>>) {
  const email = `${uniq("crash")}@example.test`;
  const id = await asClaims(clinic.admin.claims, async (client) => {
    const { rows } = await client.query("select id from app_public.add_user($1, 'Nia New', 'receptionist')", [email]);
    return rows[0].id as string;
  });
  return { clinic, id, email, key: `account:${id}` };
}

/** A worker process sending a new user's account e-mail, held by the SMTP server at `point`. */
async function heldAt(point: "greeting" | "reply") {
  const clinic = await quietClinic();
  const hold = smtp.hold(point);
  const worker = await startWorker();
  const user = await newUser(clinic);
  await hold.reached;
  return { worker, user, release: hold.release };
}

const delivery = (key: string) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      "select status, claimed_by from app_private.email_deliveries where idempotency_key = $1",
      [key],
    );
    return rows[0] as { status: string; claimed_by: string | null } | undefined;
  });

const tokenIn = (text: string) => /#token=([0-9a-f]{64})/.exec(text)?.[1] as string;
const setPassword = (token: string) =>
  asOwner((client) => client.query("select app_private.set_password_with_token($1, $2)", [token, FIXTURE_HASH]));

test("killed while connected, before the hand-over: the second process sends it once, within the dead-worker bound", async () => {
  const { worker, user, release } = await heldAt("greeting");
  await until(async () => (await delivery(user.key))?.status === "not_sent");
  await worker.kill();
  release();

  const killedAt = Date.now();
  await startWorker();
  await until(async () => (await delivery(user.key))?.status === "sent");
  const seconds = (Date.now() - killedAt) / 1000;
  await pause(1000);
  expect(smtp.to(user.email)).toHaveLength(1);
  await expect(setPassword(tokenIn(smtp.to(user.email)[0].text))).resolves.toBeDefined();
  // Unlocked by the heartbeat round, not graphile-worker's four hours (start-up included).
  expect(seconds).toBeLessThan(30);
});

test("killed after the server took the message, before its answer: unknown, reported and not resent; the operator's resend brings a working link", async () => {
  const { worker, user, release } = await heldAt("reply");
  expect(await delivery(user.key)).toMatchObject({ status: "sending" });
  await worker.kill();
  release();
  expect(smtp.to(user.email)).toHaveLength(1);

  const metricsPort = await freePort();
  const second = await startWorker({ METRICS_PORT: String(metricsPort) });
  await until(async () => (await delivery(user.key))?.status === "unknown");
  await until(() => second.output.includes(`E-mail "${user.key}" may or may not have reached the mail server`));
  const unknownGauge = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return Number(/^email_deliveries_open\{status="unknown"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  await until(async () => (await unknownGauge()) >= 1);
  // Not resent on its own: the retried job found it unknown and ended.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(smtp.to(user.email)).toHaveLength(1);
  expect(second.output).not.toContain(user.email);

  const out: string[] = [];
  const err: string[] = [];
  await asOwner(async (client) => {
    const program = tenantProgram(client, { out: (line) => out.push(line), err: (line) => err.push(line) });
    await program.parseAsync(["node", "tenant", "deliveries", user.clinic.tenantId]);
    expect(out[1]).toMatch(new RegExp(`^unknown\\s+${user.key}\\s+account\\s+user:${user.id}\\s`));
    expect(out.at(-1)).toBe("1 unknown, 0 sending, 0 not sent.");
    await program.parseAsync(["node", "tenant", "resend", user.clinic.tenantId, user.key]);
  });
  expect(err).toEqual([]);
  // The server keeps a message before it answers: the row says sent once the answer came.
  await until(async () => smtp.to(user.email).length === 2 && (await delivery(user.key))?.status === "sent");
  const [lost, resent] = smtp.to(user.email);
  await expect(setPassword(tokenIn(lost.text))).rejects.toMatchObject({ code: "TOKEN" });
  await expect(setPassword(tokenIn(resent.text))).resolves.toBeDefined();
});

test("killed after `sent` was recorded, before the job completed: the retry sends nothing", async () => {
  const { worker, user, release } = await heldAt("reply");
  // Hold the job's row, so completing it waits: the crash comes after our bookkeeping.
  const { rows } = await asOwner((client) =>
    client.query("select id from graphile_worker._private_jobs where payload->>'user_id' = $1", [user.id]),
  );
  await asOwner(async (client) => {
    await client.query("begin");
    await client.query("select 1 from graphile_worker._private_jobs where id = $1 for update", [rows[0].id]);
    release();
    await until(async () => (await delivery(user.key))?.status === "sent");
    await worker.kill();
    await client.query("rollback");
  });

  await startWorker();
  await until(async () =>
    asOwner(
      async (client) =>
        (await client.query("select 1 from graphile_worker._private_jobs where id = $1", [rows[0].id])).rowCount === 0,
    ),
  );
  expect(smtp.to(user.email)).toHaveLength(1);
  await expect(setPassword(tokenIn(smtp.to(user.email)[0].text))).resolves.toBeDefined();
});

describe("the rules between workers (SQL)", () => {
  const owner = <T>(sql: string, values: unknown[] = []) =>
    asOwner(async (client) => (await client.query(sql, values)).rows as T[]);
  const unlockDead = async () =>
    (await owner<{ ids: string[] }>("select app_private.unlock_dead_workers(interval '60 seconds') as ids"))[0].ids;

  test("a claim passes from a live attempt to another only after 15 minutes, from a silent pool at once; a passed-over attempt can neither issue links nor send", async () => {
    const [a, b] = [uniq("pool-a"), uniq("pool-b")];
    const user = await newUser(await quietClinic());
    const tenantId = user.clinic.tenantId;
    const claim = async (key: string, pool: string, token: string) =>
      (
        await owner<{ claim: string }>(
          "select * from app_private.claim_email_delivery(null, $1, $2, null, 'test', '<m@clinic.test>', $3, $4, 'send_account_email', '{}')",
          [key, user.id, pool, token],
        )
      )[0].claim;
    const held = async (fn: "lock_email_claim" | "hand_over_email_delivery", key: string, token: string) =>
      (await owner<{ ok: boolean }>(`select app_private.${fn}($1, $2, $3) as ok`, [tenantId, key, token]))[0].ok;
    const tokens = Array.from({ length: 7 }, () => randomUUID());
    await owner("select app_private.beat_workers($1)", [[a, b]]);
    try {
      // Two attempts of one pool (its concurrency) or of two pools: the second waits.
      const slow = `test:${uniq("slow")}`;
      expect(await claim(slow, a, tokens[0])).toBe("send");
      expect(await claim(slow, a, tokens[1])).toBe("busy");
      expect(await claim(slow, b, tokens[1])).toBe("busy");
      // After 15 minutes the claim passes even from a live pool; the first attempt is then refused.
      await owner(
        "update app_private.email_deliveries set claimed_at = now() - interval '16 minutes' where idempotency_key = $1",
        [slow],
      );
      expect(await claim(slow, b, tokens[1])).toBe("send");
      expect(await held("lock_email_claim", slow, tokens[0])).toBe(false);
      expect(await held("hand_over_email_delivery", slow, tokens[0])).toBe(false);
      expect(await held("lock_email_claim", slow, tokens[1])).toBe(true);
      expect(await held("hand_over_email_delivery", slow, tokens[1])).toBe(true);

      // A pool silent past the bound loses its claims at once.
      const silent = `test:${uniq("silent")}`;
      expect(await claim(silent, a, tokens[2])).toBe("send");
      await owner("update app_private.worker_heartbeats set beat_at = now() - interval '61 seconds' where worker_id = $1", [a]);
      expect(await unlockDead()).toContain(a);
      expect(await claim(silent, b, tokens[3])).toBe("send");
      expect(await held("hand_over_email_delivery", silent, tokens[2])).toBe(false);
      expect(await held("hand_over_email_delivery", silent, tokens[3])).toBe(true);
      // `b` is gone while handing it over: the next claim finds it unknown, and says so once.
      await owner("select app_private.forget_workers($1)", [[b]]);
      expect(await claim(silent, a, tokens[4])).toBe("found-unknown");
      expect(await claim(silent, a, tokens[5])).toBe("unknown");

      // An operator resends it: it no longer counts as waiting, and the next attempt claims it.
      const unknownCount = async () =>
        (await owner<{ status: string; count: number }>("select * from app_private.open_delivery_counts()")).find(
          (r) => r.status === "unknown",
        )?.count ?? 0;
      const before = await unknownCount();
      await owner("select app_private.resend_email_delivery($1, $2)", [tenantId, silent]);
      expect(await unknownCount()).toBe(before - 1);
      expect(await claim(silent, a, tokens[6])).toBe("send");
      expect(await held("hand_over_email_delivery", silent, tokens[6])).toBe(true);
    } finally {
      await owner("select app_private.forget_workers($1)", [[a, b]]);
    }
  });

  test("links are issued under a lock on the claim: a takeover waits until they are written", async () => {
    const pool = uniq("pool-lock");
    const user = await newUser(await quietClinic());
    const key = `test:${uniq("lock")}`;
    const [first, second] = [randomUUID(), randomUUID()];
    const claimSql =
      "select * from app_private.claim_email_delivery(null, $1, $2, null, 'test', '<m@clinic.test>', $3, $4, 'send_account_email', '{}')";
    await owner(claimSql, [key, user.id, pool, first]);
    // The first attempt's claim expired (15 minutes): a second may take it, but not while links are being issued.
    await owner("update app_private.email_deliveries set claimed_at = now() - interval '16 minutes' where idempotency_key = $1", [
      key,
    ]);
    await asOwner(async (issuing) => {
      await issuing.query("begin");
      const held = await issuing.query("select app_private.lock_email_claim($1, $2, $3) as held", [
        user.clinic.tenantId,
        key,
        first,
      ]);
      expect(held.rows[0].held).toBe(true);
      let claimed = false;
      const takeover = owner<{ claim: string }>(claimSql, [key, user.id, pool, second]).then((rows) => ((claimed = true), rows));
      await pause(500);
      expect(claimed).toBe(false);
      await issuing.query("commit");
      expect((await takeover)[0].claim).toBe("send");
    });
  });

  test("a job held past the bound by a worker without a heartbeat is unlocked; a live worker's is not", async () => {
    const [live, ghost] = [uniq("worker-live"), uniq("worker-ghost")];
    const jobs = await owner<{ id: string }>(
      "select (graphile_worker.add_job('test_noop', '{}'::json, run_at => now() + interval '1 day')).id from generate_series(1, 2)",
    );
    await owner("select app_private.beat_workers($1)", [[live]]);
    try {
      await owner(
        "update graphile_worker._private_jobs set locked_by = case when id = $1 then $3 else $4 end, locked_at = now() - interval '2 minutes' where id = any(array[$1, $2]::bigint[])",
        [jobs[0].id, jobs[1].id, live, ghost],
      );
      const unlocked = await unlockDead();
      expect(unlocked).toContain(ghost);
      expect(unlocked).not.toContain(live);
      const locks = await owner<{ id: string; locked_by: string | null }>(
        "select id, locked_by from graphile_worker._private_jobs where id = any($1::bigint[]) order by id",
        [jobs.map((job) => job.id)],
      );
      expect(locks).toEqual([
        { id: jobs[0].id, locked_by: live },
        { id: jobs[1].id, locked_by: null },
      ]);
    } finally {
      await owner("delete from graphile_worker._private_jobs where id = any($1::bigint[])", [jobs.map((job) => job.id)]);
      await owner("select app_private.forget_workers($1)", [[live]]);
    }
  });
});
