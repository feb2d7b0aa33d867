/**
 * `npm run tenant`: the operator commands, in-process against the test database, and once as the
 * real command line. Plan changes obey the plan limit (PLANL) because the SQL enforces it.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { tenantProgram } from "../src/cli/tenant";
import { asClaims, asOwner, authenticatorUrl, closePool, ownerUrl, signUpClinic, type Clinic } from "./helpers";

let client: Client;
beforeAll(async () => {
  client = new Client({ connectionString: ownerUrl() });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await closePool();
});
afterEach(() => {
  process.exitCode = undefined;
});

/** Runs one command; returns what it printed and the exit code it set. */
async function tenant(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const program = tenantProgram(client, { out: (line) => out.push(line), err: (line) => err.push(line) });
  await program.parseAsync(args, { from: "user" });
  return { out, err, exitCode: process.exitCode };
}

const slugOf = async (clinic: Clinic) =>
  (await asOwner((c) => c.query("select slug from app_public.tenants where id = $1", [clinic.tenantId]))).rows[0].slug as string;

const planOf = async (clinic: Clinic) =>
  (
    await asOwner((c) =>
      c.query("select subscription_plan, trial_ends_at from app_public.tenants where id = $1", [clinic.tenantId]),
    )
  ).rows[0];

test("list shows each tenant's plan, trial end, read-only state and active doctors against the limit", async () => {
  const clinic = await signUpClinic();
  const { trial_ends_at } = await planOf(clinic);
  const { out, exitCode } = await tenant("list");
  expect(exitCode).toBeUndefined();
  expect(out[0].split(/\s{2,}/)).toEqual(["SLUG", "PLAN", "TRIAL ENDS (UTC)", "READ-ONLY", "DOCTORS", "NAME"]);
  const slug = await slugOf(clinic);
  const line = out.find((l) => l.startsWith(`${slug} `)) as string;
  expect(line.split(/\s{2,}/).slice(1, 5)).toEqual(["trial", trial_ends_at.toISOString(), "no", "1/5"]);
});

test("set-plan moves a tenant, by slug or id; a paid plan clears the trial end", async () => {
  const clinic = await signUpClinic();
  expect((await tenant("set-plan", await slugOf(clinic), "premium")).out[0]).toMatch(/^Changed .*: plan premium$/);
  expect(await planOf(clinic)).toEqual({ subscription_plan: "premium", trial_ends_at: null });
  await tenant("set-plan", clinic.tenantId, "basic");
  expect((await planOf(clinic)).subscription_plan).toBe("basic");
});

test("set-plan is refused with PLANL when the active doctors exceed the new plan's limit", async () => {
  const clinic = await signUpClinic();
  await tenant("set-plan", clinic.tenantId, "basic");
  await asClaims(clinic.admin.claims, async (c) => {
    for (let i = 0; i < 5; i++) await c.query("select app_public.add_doctor($1)", [`Doctor ${i}`]);
  });
  const { err, exitCode } = await tenant("set-plan", clinic.tenantId, "trial");
  expect(exitCode).toBe(1);
  expect(err).toEqual([expect.stringMatching(/^PLANL: The trial plan allows 5 active doctors/)]);
  expect((await planOf(clinic)).subscription_plan).toBe("basic");
});

test("extend-trial adds days to the trial end, or to now once it has ended", async () => {
  const clinic = await signUpClinic();
  const { trial_ends_at: before } = await planOf(clinic);
  await tenant("extend-trial", clinic.tenantId, "10");
  const { trial_ends_at: after } = await planOf(clinic);
  expect(after.getTime() - before.getTime()).toBe(10 * 86400_000);
  await asOwner((c) =>
    c.query("update app_public.tenants set trial_ends_at = now() - interval '30 days' where id = $1", [clinic.tenantId]),
  );
  await tenant("extend-trial", clinic.tenantId, "3");
  const { trial_ends_at: revived } = await planOf(clinic);
  expect(revived.getTime()).toBeGreaterThan(Date.now() + 2.9 * 86400_000);
});

test("unknown tenants and plans, paid tenants' trials and bad day counts are refused with a code", async () => {
  const clinic = await signUpClinic();
  expect((await tenant("set-plan", "no-such-clinic", "basic")).err).toEqual([expect.stringMatching(/^NTFND: No tenant/)]);
  expect((await tenant("set-plan", clinic.tenantId, "platinum")).err).toEqual(['NTFND: There is no plan "platinum".']);
  expect((await tenant("extend-trial", clinic.tenantId, "0")).err).toEqual(["INVAL: A trial is extended by 1 to 365 days."]);
  await tenant("set-plan", clinic.tenantId, "basic");
  expect((await tenant("extend-trial", clinic.tenantId, "5")).err).toEqual(["INVAL: The tenant is not on a trial plan."]);
  await expect(tenant("extend-trial", clinic.tenantId, "ten")).rejects.toMatchObject({ code: "commander.invalidArgument" });
  await expect(tenant("drop-everything")).rejects.toMatchObject({ code: "commander.unknownCommand" });
});

test("npm run tenant runs as a real command line against DATABASE_URL, exiting with 1 on an error", async () => {
  const clinic = await signUpClinic();
  const cli = (...args: string[]) =>
    promisify(execFile)(
      path.resolve(__dirname, "../node_modules/.bin/tsx"),
      [path.resolve(__dirname, "../src/cli/tenant.ts"), ...args],
      {
        env: { ...process.env, DATABASE_URL: ownerUrl(), AUTH_DATABASE_URL: authenticatorUrl() },
      },
    );
  expect((await cli("list")).stdout).toContain(await slugOf(clinic));
  await expect(cli("set-plan", "no-such-clinic", "basic")).rejects.toMatchObject({
    code: 1,
    stderr: expect.stringContaining("NTFND: No tenant"),
  });
  await expect(cli("extend-trial", clinic.tenantId, "ten")).rejects.toMatchObject({ code: 1 });
});
