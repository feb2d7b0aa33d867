/**
 * Deployments that cannot clash: role names come from configuration, so two deployments (or a
 * deployment and this test run) on one PostgreSQL server each have their own roles, and neither
 * changes the other's roles or passwords. And a DBA may make the roles and the database
 * beforehand: DATABASE_URL and AUTH_DATABASE_URL without ROOT_DATABASE_URL migrate and serve.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { run } from "graphile-migrate";
import { Client } from "pg";
import { loadConfig, type DatabaseRoles } from "../src/config";
import { roleUrls } from "../src/db/database";
import { MigrationHistoryError, migrateSettings, setUpDatabase } from "../src/db/setup";
import type { DatabaseUrls } from "../src/db/setup";
import { rolesWithPrefix } from "./global-setup";
import { asOwner, authenticatorUrl, closePool, ownerUrl, roles, startServer, uniq, type ServerOptions } from "./helpers";

const rootUrl = () => process.env.TEST_ROOT_URL as string;
const password = () => randomBytes(24).toString("hex");

async function asSuperuser<T>(work: (client: Client) => Promise<T>, database?: string): Promise<T> {
  const url = new URL(rootUrl());
  if (database) url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** What another deployment could change about `names`: attributes, password hash, memberships. */
const rolesSnapshot = (names: string[]) =>
  asSuperuser(async (client) => {
    const { rows } = await client.query(
      `select r.rolname, r.rolpassword, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
              r.rolbypassrls, r.rolvaliduntil,
              array(select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid
                    where m.member = r.oid order by 1)::text[] as member_of
       from pg_authid r where r.rolname = any($1) order by r.rolname`,
      [names],
    );
    return rows;
  });

const namesOf = (r: DatabaseRoles) => [r.owner, r.authenticator, r.anonymous, r.visitor];

/**
 * Removes a deployment made here: its database, then its roles. First it outwaits graphile-migrate's
 * idle pools (kept 200 ms after use, pgReal.js), which exit the process when their connection dies.
 */
const dropDeployment = (name: string, r: DatabaseRoles) =>
  asSuperuser(async (client) => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.query(`drop database if exists "${name}" with (force)`);
    await client.query(`drop role if exists ${r.authenticator}, ${r.anonymous}, ${r.visitor}, ${r.owner}`);
  });

/** Signs up a clinic through the app on `database`, then asks GraphQL who is signed in. */
async function signUpAndAskWhoAmI(database?: ServerOptions["database"]) {
  const server = await startServer({ database });
  try {
    const body = {
      clinicName: uniq("Clinic"),
      fullName: "Ada Admin",
      email: `${uniq("admin")}@example.test`,
      password: "a long passphrase",
    };
    const registered = await server.post("/auth/register-clinic", body);
    expect(registered.status).toBe(201);
    const me = await server.graphql(registered.body.token, "{ currentUser { email } currentTenant { name } }");
    expect(me.body).toEqual({ data: { currentUser: { email: body.email }, currentTenant: { name: body.clinicName } } });
  } finally {
    await server.close();
  }
}

afterAll(closePool);

test("the test run has its own roles, and its database grants to no other role", async () => {
  expect(namesOf(roles()).every((name) => name.startsWith(`clinic_test_${process.pid}_`))).toBe(true);
  const { rows } = await asOwner((client) =>
    client.query(`
      with grantees as (
        select (aclexplode(nspacl)).grantee from pg_namespace where nspname in ('app_public', 'app_private')
        union all
        select (aclexplode(c.relacl)).grantee from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname in ('app_public', 'app_private')
        union all
        select (aclexplode(a.attacl)).grantee from pg_attribute a join pg_class c on c.oid = a.attrelid
          join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('app_public', 'app_private')
        union all
        select (aclexplode(p.proacl)).grantee from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname in ('app_public', 'app_private')
        union all
        select unnest(p.polroles) from pg_policy p
        union all
        select (aclexplode(datacl)).grantee from pg_database where datname = current_database()
      )
      select distinct case when grantee = 0 then 'public' else grantee::regrole::text end as name from grantees order by 1`),
  );
  expect(rows.map((row) => row.name)).toEqual(namesOf(roles()).sort());
});

describe("a second deployment on the same server, with other role names", () => {
  const name = `clinic_second_${process.pid}`;
  const second = rolesWithPrefix(name);
  let secondUrls: DatabaseUrls;
  let firstBefore: unknown[];
  let firstAfter: unknown[];

  beforeAll(async () => {
    firstBefore = await rolesSnapshot(namesOf(roles()));
    secondUrls = roleUrls(rootUrl(), name, second, password(), password());
    await setUpDatabase(secondUrls, second);
    firstAfter = await rolesSnapshot(namesOf(roles()));
  }, 120_000);
  afterAll(() => dropDeployment(name, second));

  test("setting it up changes none of the first deployment's roles or passwords", () => {
    expect(firstBefore).toHaveLength(4);
    expect(firstAfter).toEqual(firstBefore);
  });

  test("setting the first one up again (every npm start does) changes none of the second's", async () => {
    const before = await rolesSnapshot(namesOf(second));
    expect(before).toHaveLength(4);
    await setUpDatabase({ rootUrl: rootUrl(), ownerUrl: ownerUrl(), authenticatorUrl: authenticatorUrl() }, roles());
    expect(await rolesSnapshot(namesOf(second))).toEqual(before);
  });

  test("each authenticator is a member of its own API roles only", async () => {
    const memberOf = async (r: DatabaseRoles) =>
      ((await rolesSnapshot([r.authenticator]))[0] as { member_of: string[] }).member_of;
    expect(await memberOf(second)).toEqual([second.anonymous, second.visitor].sort());
    expect(await memberOf(roles())).toEqual([roles().anonymous, roles().visitor].sort());
  });

  test("neither deployment's logins can connect to the other's database", async () => {
    const onOther = (url: string, database: string) => {
      const other = new URL(url);
      other.pathname = `/${database}`;
      return other.toString();
    };
    const firstDatabase = new URL(ownerUrl()).pathname.slice(1);
    for (const url of [onOther(secondUrls.authenticatorUrl, firstDatabase), onOther(authenticatorUrl(), name)]) {
      const client = new Client({ connectionString: url });
      await expect(client.connect()).rejects.toMatchObject({ code: "42501" });
      await client.end().catch(() => {});
    }
  });

  test("both serve sign-up and GraphQL", async () => {
    await signUpAndAskWhoAmI({ authenticatorUrl: secondUrls.authenticatorUrl, roles: second });
    await signUpAndAskWhoAmI();
  });
});

describe("roles and database made by a DBA beforehand: DATABASE_URL without ROOT_DATABASE_URL", () => {
  const name = `clinic_dba_${process.pid}`;
  const dba = rolesWithPrefix(name);
  const urls = roleUrls(rootUrl(), name, dba, password(), password());

  beforeAll(async () => {
    // The DBA's steps (README, "Roles made by a DBA"): db/roles.sql, the database, db/after-reset.sql.
    const settings = migrateSettings(urls, dba);
    const sql = (file: string) => readFileSync(path.join(__dirname, "..", "db", file), "utf8");
    await run(settings, sql("roles.sql"), "db/roles.sql", { root: true, rootDatabase: true });
    await asSuperuser((client) => client.query(`create database "${name}" owner ${dba.owner}`));
    await run(settings, sql("after-reset.sql"), "db/after-reset.sql", { root: true });
  }, 120_000);
  afterAll(() => dropDeployment(name, dba));

  test("the app migrates it with the owner's and the authenticator's URLs only, and serves", async () => {
    const config = loadConfig({
      DATABASE_URL: urls.ownerUrl,
      AUTH_DATABASE_URL: urls.authenticatorUrl,
      DATABASE_ANONYMOUS_ROLE: dba.anonymous,
      DATABASE_VISITOR_ROLE: dba.visitor,
    });
    if (config.database.kind !== "external") throw new Error("expected the external database");
    expect(config.database.rootUrl).toBeUndefined();
    expect(config.database.roles).toEqual(dba);
    await setUpDatabase(config.database, config.database.roles);
    await signUpAndAskWhoAmI({ authenticatorUrl: urls.authenticatorUrl, roles: dba });
  }, 120_000);

  test("a database migrated from another history is refused with one line saying what to do", async () => {
    const withoutRoot = { ownerUrl: urls.ownerUrl, authenticatorUrl: urls.authenticatorUrl };
    await setUpDatabase(withoutRoot, dba);
    const owner = new Client({ connectionString: urls.ownerUrl });
    await owner.connect();
    try {
      await owner.query(
        "update graphile_migrate.migrations set hash = 'sha1:0aca435ecc636b6bb2185598b5affba9732ebf86' where filename = (select max(filename) from graphile_migrate.migrations)",
      );
    } finally {
      await owner.end();
    }
    const refusal = setUpDatabase(withoutRoot, dba);
    await expect(refusal).rejects.toThrow(MigrationHistoryError);
    await expect(refusal).rejects.toThrow(/^The database's applied migrations \(\d{6}\.sql\) differ .*delete .*\.data\/postgres/);
  }, 120_000);
});
