/**
 * Searches (migration 000007, "Searches on indexes"): app_public.search_patients finds a tenant's
 * patients by any part of the name, any case, or the start of the phone number or e-mail;
 * app_public.search_medicines finds global and own medicines by part of the name. Wildcards in
 * the search are plain characters, and another tenant's rows are never found, also not through
 * app_private.matching_patient_ids, which bypasses RLS to use the index.
 */
import { asClaims, asOwner, signUpClinic, sqlStateOf, useServer, type Clinic } from "./helpers";

const server = useServer();
let own: Clinic;
let other: Clinic;

beforeAll(async () => {
  own = await signUpClinic();
  other = await signUpClinic();
  for (const [clinic, rows] of [
    [
      own,
      [
        ["Marta Ordóñez", "+34 600 111 222", "marta@own.test"],
        ["Olga 100% Real", null, null],
        ["Rosa_Underscore", null, null],
      ],
    ],
    [other, [["Marta Other", "+34 600 111 999", "marta@other.test"]]],
  ] as const) {
    await asClaims(clinic.admin.claims, async (c) => {
      for (const [name, phone, email] of rows)
        await c.query("insert into app_public.patients (full_name, phone, email) values ($1, $2, $3)", [name, phone, email]);
    });
  }
});

const names = (clinic: Clinic, search: string) =>
  asClaims(clinic.admin.claims, async (c) =>
    (await c.query("select full_name from app_public.search_patients($1)", [search])).rows.map((r) => r.full_name),
  );

test("by any part of the name, any case; by the start of the phone or e-mail; never another tenant's", async () => {
  expect(await names(own, "ORDÓ")).toEqual(["Marta Ordóñez"]);
  expect(await names(own, "marta")).toEqual(["Marta Ordóñez"]);
  expect(await names(own, "+34 600")).toEqual(["Marta Ordóñez"]);
  expect(await names(own, "600 111")).toEqual([]); // the phone matches from its start only
  expect(await names(own, "MARTA@")).toEqual(["Marta Ordóñez"]);
  expect(await names(other, "marta")).toEqual(["Marta Other"]);
});

test("matching_patient_ids (SECURITY DEFINER, no RLS) keeps to the claim's tenant, a claim that is no session's finds nothing, the anonymous role may not call it", async () => {
  const ids = (claims: Clinic["admin"]["claims"] | undefined) =>
    asClaims(claims, async (c) =>
      (await c.query("select id from app_private.matching_patient_ids('marta') id")).rows.map((r) => r.id),
    );
  const owners = await asOwner(async (c) =>
    (
      await c.query("select id, tenant_id from app_public.patients where full_name like 'Marta %' and tenant_id = any($1)", [
        [own.tenantId, other.tenantId],
      ])
    ).rows.map((r) => [r.id, r.tenant_id]),
  );
  expect(owners).toHaveLength(2);
  expect(await ids(own.admin.claims)).toEqual(owners.filter(([, t]) => t === own.tenantId).map(([id]) => id));
  expect(await ids(other.admin.claims)).toEqual(owners.filter(([, t]) => t === other.tenantId).map(([id]) => id));
  expect(await ids({ ...own.admin.claims, tenant_id: "not-a-uuid" })).toEqual([]);
  expect(await sqlStateOf(undefined, (c) => c.query("select app_private.matching_patient_ids('marta')"))).toBe("42501");
});

test("wildcards are plain characters, and an empty search finds nothing", async () => {
  expect(await names(own, "%")).toEqual(["Olga 100% Real"]);
  expect(await names(own, "_")).toEqual(["Rosa_Underscore"]);
  expect(await names(own, "   ")).toEqual([]);
  expect(await names(own, "\\")).toEqual([]);
});

test("over GraphQL: searchPatients and searchMedicines (global and own, not another tenant's)", async () => {
  await asClaims(other.admin.claims, (c) =>
    c.query("insert into app_public.medicines (name, dosage_form) values ('zzsearchcillin other', 'tablet')"),
  );
  await asClaims(own.admin.claims, (c) =>
    c.query("insert into app_public.medicines (name, dosage_form) values ('zzsearchcillin own', 'tablet')"),
  );
  const globalName = await asOwner(
    async (c) => (await c.query("select name from app_public.medicines where tenant_id is null limit 1")).rows[0].name,
  );
  const { body } = await server.graphql(
    own.admin.token,
    `query($global: String!) { searchPatients(search: "marta") { nodes { fullName } }
       own: searchMedicines(search: "ZZSEARCH") { nodes { name } }
       global: searchMedicines(search: $global) { totalCount } }`,
    { global: globalName },
  );
  expect(body.errors).toBeUndefined();
  expect(body.data.searchPatients.nodes).toEqual([{ fullName: "Marta Ordóñez" }]);
  expect(body.data.own.nodes).toEqual([{ name: "zzsearchcillin own" }]);
  expect(body.data.global.totalCount).toBeGreaterThan(0);
});
