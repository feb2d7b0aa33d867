/**
 * db/schema.sql is the reviewers' view of the migrated schema, one block per table. This fails
 * when it drifts from the migrations: refresh it with `npm run db:dump` (from the database
 * `npm start` migrated) or `UPDATE_SCHEMA=1 npm test -- test/schema-dump.test.ts`, and commit it
 * with the migration.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Client } from "pg";
import { developmentRoleAliases, dumpSchema, SCHEMA_DUMP_FILE } from "../src/db/schema-dump";
import { asOwner, roles } from "./helpers";

/** The dump of the schema with `change` applied, rolled back afterwards. */
const dumpWith = (change: string, aliases?: Record<string, string>) =>
  asOwner(async (client: Client) => {
    await client.query("begin");
    try {
      await client.query(change);
      return await dumpSchema(client, { roleAliases: aliases ?? developmentRoleAliases(roles()) });
    } finally {
      await client.query("rollback");
    }
  });

/** The block of one table: from its heading to the next blank line. */
const blockOf = (dump: string, table: string) => {
  const start = dump.indexOf(`-- ${table}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  return dump.slice(start, dump.indexOf("\n\n", start));
};

test("the committed db/schema.sql matches the migrated schema", async () => {
  const live = await asOwner((client) => dumpSchema(client, { roleAliases: developmentRoleAliases(roles()) }));
  if (process.env.UPDATE_SCHEMA === "1") writeFileSync(SCHEMA_DUMP_FILE, live);
  expect(live).toBe(readFileSync(SCHEMA_DUMP_FILE, "utf8"));
});

test("every rule of appointments is in its block: columns, constraints, indexes, RLS, policies, triggers, grants, comments", () => {
  const block = blockOf(readFileSync(SCHEMA_DUMP_FILE, "utf8"), "app_public.appointments");
  expect(block).toMatch(/^create table app_public\.appointments \(\n {2}id uuid default gen_random_uuid\(\) not null,/m);
  expect(block).toMatch(/^ {2}constraint appointments_no_double_booking EXCLUDE USING gist/m);
  expect(block).toMatch(/^CREATE INDEX appointments_tenant_id_starts_at_idx ON app_public\.appointments/m);
  expect(block).toContain("alter table app_public.appointments force row level security;");
  expect(block).toMatch(/^create policy select_own_tenant on app_public\.appointments\n {2}for select to clinic_user/m);
  expect(block).toMatch(/^CREATE TRIGGER _300_check_office BEFORE INSERT OR UPDATE OF/m);
  expect(block).toMatch(/^grant update \(doctor_id, .*\) on table app_public\.appointments to clinic_user;$/m);
  expect(block).toMatch(/^comment on policy select_own_tenant on app_public\.appointments is /m);
  expect(block).toMatch(/^comment on column app_public\.appointments\.status is /m);
});

test("a migration's new policy, trigger, index, column grant and comment show in their table's block", async () => {
  const block = blockOf(
    await dumpWith(`
      alter table app_public.appointments add column room text;
      comment on column app_public.appointments.room is 'Room number.';
      create index appointments_room_idx on app_public.appointments (room);
      grant update (room) on app_public.appointments to ${roles().visitor};
      create policy delete_as_admin on app_public.appointments for delete to ${roles().visitor} using (false);
      create trigger _900_probe before insert on app_public.appointments for each row execute function app_private.tg__timestamps();
    `),
    "app_public.appointments",
  );
  expect(block).toMatch(/^ {2}room text,?$/m);
  expect(block).toContain("comment on column app_public.appointments.room is 'Room number.';");
  expect(block).toContain("CREATE INDEX appointments_room_idx ON app_public.appointments USING btree (room);");
  expect(block).toMatch(/^grant update \(doctor_id, .*, room\) on table app_public\.appointments to clinic_user;$/m);
  expect(block).toMatch(
    /^create policy delete_as_admin on app_public\.appointments\n {2}for delete to clinic_user\n {2}using \(false\);$/m,
  );
  expect(block).toMatch(/^CREATE TRIGGER _900_probe BEFORE INSERT ON app_public\.appointments/m);
});

test("role names print as their aliases, so a cluster with other role names gives the same text", async () => {
  const { visitor } = roles();
  const dump = await dumpWith("select 1", { [visitor]: "app_user_alias" });
  expect(dump).toMatch(/^create policy select_own_tenant on app_public\.appointments\n {2}for select to app_user_alias$/m);
  expect(dump).toMatch(/^grant delete, select on table app_public\.appointments to app_user_alias;$/m);
  expect(dump).not.toContain(visitor);
});
