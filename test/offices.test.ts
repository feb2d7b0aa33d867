/**
 * The offices rule (migrations section 4-doctors-and-offices, app_private.assert_valid_offices):
 * a doctor's offices are a JSONB array of at most 50 objects with only the keys id (unique
 * non-empty text, at most 50 characters), name (non-empty text), address (text or null,
 * optional) and is_primary (boolean), exactly one primary when not empty. Anything else is
 * refused with OFFIC, over GraphQL and in plain SQL alike, and nothing is stored.
 */
import {
  asClaims,
  asOwner,
  errorCodes,
  signUpClinic,
  sqlStateOf,
  uniq,
  useServer,
  type Clinic,
  type GraphQLBody,
} from "./helpers";

type Office = Record<string, unknown>;

const office = (id: unknown, isPrimary: boolean, extra: Office = {}): Office => ({
  id,
  name: `Office ${String(id)}`,
  address: null,
  is_primary: isPrimary,
  ...extra,
});

/** n valid offices, the first one primary. */
const offices = (n: number): Office[] => Array.from({ length: n }, (_, i) => office(`office-${i + 1}`, i === 0));

const malformed: [string, unknown][] = [
  ["an object instead of an array ({})", {}],
  ["an array holding null ([null])", [null]],
  ["a numeric id", [office(1, true)]],
  ["an office without a name", [{ id: "main", address: null, is_primary: true }]],
  ["an office with a blank name", [office("main", true, { name: "   " })]],
  ["duplicate ids", [office("main", true), office("main", false)]],
  ["two primary offices", [office("main", true), office("north", true)]],
  ["no primary office", [office("main", false), office("north", false)]],
  ["an extra key", [office("main", true, { phone: "555-0100" })]],
  ["51 offices", offices(51)],
  ["a 51-character id", [office("x".repeat(51), true)]],
  ["an empty-string id", [office("", true)]],
  ["an address that is a number", [office("main", true, { address: 12 })]],
  ['is_primary as the string "true"', [office("main", "true" as unknown as boolean)]],
  ["a name with a line break", [office("main", true, { name: "Main\nBcc: x@evil.test" })]],
  ["an address with a carriage return", [office("main", true, { address: "1 High Street\r\nForged line" })]],
  ["an id with a tab", [office("ma\tin", true)]],
  ["a name with a C1 control (NEL)", [office("main", true, { name: "Main\u0085office" })]],
];

const valid: [string, unknown[]][] = [
  ["an empty array", []],
  ["one office with address null", [office("main", true, { address: null })]],
  ["one office without the address key", [{ id: "main", name: "Main office", is_primary: true }]],
  ["50 offices", offices(50)],
  ["a 50-character id", [office("y".repeat(50), true, { address: "2 Low Road" })]],
];

const ADD_DOCTOR = `
  mutation AddDoctor($fullName: String!, $offices: JSON) {
    addDoctor(input: { fullName: $fullName, offices: $offices }) { result { rowId offices } }
  }`;

const UPDATE_OFFICES = `
  mutation UpdateOffices($rowId: UUID!, $offices: JSON) {
    updateDoctor(input: { rowId: $rowId, patch: { offices: $offices } }) { doctor { rowId offices } }
  }`;

const storedOffices = (doctorId: string) =>
  asOwner(async (client) => {
    const { rows } = await client.query("select offices from app_public.doctors where id = $1", [doctorId]);
    return rows[0]?.offices as unknown;
  });

const doctorsNamed = (tenantId: string, fullName: string) =>
  asOwner(async (client) => {
    const { rows } = await client.query(
      "select count(*)::int as n from app_public.doctors where tenant_id = $1 and full_name = $2",
      [tenantId, fullName],
    );
    return rows[0].n as number;
  });

const doctorCount = (tenantId: string) =>
  asOwner(async (client) => {
    const { rows } = await client.query("select count(*)::int as n from app_public.doctors where tenant_id = $1", [tenantId]);
    return rows[0].n as number;
  });

const firstCode = (body: GraphQLBody) => body.errors?.[0]?.extensions?.code;

const server = useServer();
/** A trial clinic for the refusals: nothing is ever added to it, so the plan limit never interferes. */
let clinic: Clinic;
/** A premium clinic for the valid arrays, which do add doctors. */
let roomy: Clinic;

beforeAll(async () => {
  [clinic, roomy] = await Promise.all([signUpClinic(), signUpClinic()]);
  await asOwner((client) =>
    client.query("update app_public.tenants set subscription_plan = 'premium' where id = $1", [roomy.tenantId]),
  );
});

describe("offices must be a valid list (4-doctors-and-offices: assert_valid_offices)", () => {
  describe("addDoctor over GraphQL as the admin refuses a malformed value with OFFIC and stores no doctor", () => {
    test.each(malformed)("refuses %s", async (_label, value) => {
      const fullName = uniq("Dr Malformed");
      const before = await doctorCount(clinic.tenantId);
      const { body } = await server.graphql(clinic.admin.token, ADD_DOCTOR, { fullName, offices: value });
      expect(firstCode(body)).toBe("OFFIC");
      expect(body.data?.addDoctor ?? null).toBeNull();
      expect(await doctorsNamed(clinic.tenantId, fullName)).toBe(0);
      expect(await doctorCount(clinic.tenantId)).toBe(before);
    });
  });

  describe("updateDoctor over GraphQL as the admin refuses a malformed value with OFFIC and keeps the stored offices", () => {
    test.each(malformed)("refuses %s", async (_label, value) => {
      const { body } = await server.graphql(clinic.admin.token, UPDATE_OFFICES, {
        rowId: clinic.doctor.doctorId,
        offices: value,
      });
      expect(firstCode(body)).toBe("OFFIC");
      expect(body.data?.updateDoctor ?? null).toBeNull();
      expect(await storedOffices(clinic.doctor.doctorId)).toStrictEqual(clinic.offices);
    });
  });

  describe("a direct SQL insert as the admin raises SQLSTATE OFFIC: the rule lives in the database", () => {
    test.each(malformed)("refuses %s", async (_label, value) => {
      const fullName = uniq("Dr Sql");
      const state = await sqlStateOf(clinic.admin.claims, (client) =>
        client.query("insert into app_public.doctors (full_name, offices) values ($1, $2::jsonb)", [
          fullName,
          JSON.stringify(value),
        ]),
      );
      expect(state).toBe("OFFIC");
      expect(await doctorsNamed(clinic.tenantId, fullName)).toBe(0);
    });

    test("a direct SQL update of the offices as the admin raises SQLSTATE OFFIC and keeps the stored offices", async () => {
      const state = await sqlStateOf(clinic.admin.claims, (client) =>
        client.query("update app_public.doctors set offices = $2::jsonb where id = $1", [
          clinic.doctor.doctorId,
          JSON.stringify([office("main", false), office("north", false)]),
        ]),
      );
      expect(state).toBe("OFFIC");
      expect(await storedOffices(clinic.doctor.doctorId)).toStrictEqual(clinic.offices);
    });

    test("even the owner, who bypasses row-level security, cannot store a malformed value (SQLSTATE OFFIC)", async () => {
      const fullName = uniq("Dr Owner");
      const state = await asOwner(async (client) => {
        try {
          await client.query("insert into app_public.doctors (tenant_id, full_name, offices) values ($1, $2, $3::jsonb)", [
            clinic.tenantId,
            fullName,
            JSON.stringify([office("main", true, { floor: 2 })]),
          ]);
          return "no error";
        } catch (error) {
          return (error as { code?: string }).code;
        }
      });
      expect(state).toBe("OFFIC");
      expect(await doctorsNamed(clinic.tenantId, fullName)).toBe(0);
    });
  });

  describe("addDoctor over GraphQL stores a valid list exactly as sent", () => {
    test.each(valid)("stores %s", async (_label, value) => {
      const { body } = await server.graphql(roomy.admin.token, ADD_DOCTOR, { fullName: uniq("Dr Valid"), offices: value });
      expect(body.errors).toBeUndefined();
      const doctor = body.data.addDoctor.result;
      expect(doctor.offices).toStrictEqual(value);
      expect(await storedOffices(doctor.rowId)).toStrictEqual(value);
    });
  });

  describe("updateDoctor over GraphQL stores a valid list exactly as sent", () => {
    test.each(valid)("stores %s", async (_label, value) => {
      const target = await asClaims(roomy.admin.claims, async (client) => {
        const { rows } = await client.query("select id from app_public.add_doctor($1)", [uniq("Dr Target")]);
        return rows[0].id as string;
      });
      const { body } = await server.graphql(roomy.admin.token, UPDATE_OFFICES, { rowId: target, offices: value });
      expect(body.errors).toBeUndefined();
      expect(body.data.updateDoctor.doctor.offices).toStrictEqual(value);
      expect(await storedOffices(target)).toStrictEqual(value);
    });
  });

  describe("a direct SQL insert as the admin stores a valid list exactly as sent", () => {
    test.each(valid)("stores %s", async (_label, value) => {
      const id = await asClaims(roomy.admin.claims, async (client) => {
        const { rows } = await client.query(
          "insert into app_public.doctors (full_name, offices) values ($1, $2::jsonb) returning id",
          [uniq("Dr Sql Valid"), JSON.stringify(value)],
        );
        return rows[0].id as string;
      });
      expect(await storedOffices(id)).toStrictEqual(value);
    });
  });

  test("addDoctor without offices stores an empty list", async () => {
    const { body } = await server.graphql(
      roomy.admin.token,
      `mutation AddBare($fullName: String!) { addDoctor(input: { fullName: $fullName }) { result { rowId offices } } }`,
      { fullName: uniq("Dr Bare") },
    );
    expect(errorCodes(body)).toEqual([]);
    expect(await storedOffices(body.data.addDoctor.result.rowId)).toStrictEqual([]);
  });
});
