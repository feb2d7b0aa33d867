/**
 * Login e-mails are unique across tenants through app_private.login_emails (a reference table
 * under Citus): users are added with addUser and renamed with changeUserEmail, which reserve the
 * e-mail first; a freed e-mail can be used again; nobody reserves or frees another tenant's.
 */
import { asClaims, asOwner, closePool, signUpClinic, sqlStateOf, uniq, type Clinic } from "./helpers";

let a: Clinic;
let b: Clinic;

beforeAll(async () => {
  a = await signUpClinic();
  b = await signUpClinic();
});

afterAll(async () => {
  await closePool();
});

const addUser = (clinic: Clinic, email: string) =>
  asClaims(
    clinic.admin.claims,
    async (c) => (await c.query("select id from app_public.add_user($1, 'Una User')", [email])).rows[0].id as string,
  );

const reserved = (email: string) =>
  asOwner(async (c) => (await c.query("select tenant_id from app_private.login_emails where email = $1", [email])).rows);

test("an e-mail any tenant's user has is TAKEN, in any case, for another tenant's admin", async () => {
  expect(
    await sqlStateOf(b.admin.claims, (c) => c.query("select app_public.add_user($1, 'Copy')", [a.doctor.email.toUpperCase()])),
  ).toBe("TAKEN");
});

test("a user added by an admin has the e-mail reserved for the admin's tenant", async () => {
  const email = `${uniq("una")}@example.test`;
  await addUser(a, email);
  expect(await reserved(email)).toEqual([{ tenant_id: a.tenantId }]);
});

test("only admins add users: a receptionist's addUser is DNIED before any e-mail is looked at", async () => {
  const email = `${uniq("sneaky")}@example.test`;
  const asReceptionist = (address: string) =>
    sqlStateOf(a.receptionist.claims, (c) => c.query("select app_public.add_user($1, 'Sneaky')", [address]));
  expect(await asReceptionist(email)).toBe("DNIED");
  expect(await asReceptionist(b.admin.email)).toBe("DNIED");
  expect(await reserved(email)).toEqual([]);
});

test("a user changes their own e-mail; the old one is freed and can be used again", async () => {
  const old = a.receptionist.email;
  const renamed = `${uniq("renamed")}@example.test`;
  const row = await asClaims(
    a.receptionist.claims,
    async (c) =>
      (await c.query("select email from app_public.change_user_email($1, $2)", [a.receptionist.userId, renamed])).rows[0],
  );
  expect(row).toEqual({ email: renamed });
  expect(await reserved(old)).toEqual([]);
  expect(await reserved(renamed)).toEqual([{ tenant_id: a.tenantId }]);
  await addUser(b, old);
  expect(await reserved(old)).toEqual([{ tenant_id: b.tenantId }]);
});

test("a receptionist cannot change a colleague's e-mail, nor anyone's in another tenant", async () => {
  const target = `${uniq("target")}@example.test`;
  expect(
    await sqlStateOf(a.receptionist.claims, (c) =>
      c.query("select app_public.change_user_email($1, $2)", [a.doctor.userId, target]),
    ),
  ).toBe("NTFND");
  expect(
    await sqlStateOf(b.admin.claims, (c) => c.query("select app_public.change_user_email($1, $2)", [a.doctor.userId, target])),
  ).toBe("NTFND");
  expect(await reserved(target)).toEqual([]);
});

test("an e-mail already taken elsewhere is refused with TAKEN and the user keeps theirs", async () => {
  expect(
    await sqlStateOf(a.admin.claims, (c) =>
      c.query("select app_public.change_user_email($1, $2)", [a.doctor.userId, b.admin.email]),
    ),
  ).toBe("TAKEN");
  const { email } = await asOwner(
    async (c) => (await c.query("select email from app_public.users where id = $1", [a.doctor.userId])).rows[0],
  );
  expect(email).toBe(a.doctor.email);
});

test("the database itself refuses a user row with an e-mail reserved for another tenant", async () => {
  const code = await asOwner(async (c) => {
    try {
      await c.query("insert into app_public.users (tenant_id, email, full_name) values ($1, $2, 'Twin')", [
        b.tenantId,
        a.admin.email,
      ]);
    } catch (error) {
      return (error as { code: string }).code;
    }
    return "inserted";
  });
  expect(code).toBe("23503");
});

test("a request cannot reserve or free another tenant's e-mails directly", async () => {
  const email = `${uniq("forged")}@example.test`;
  expect(
    await sqlStateOf(a.admin.claims, (c) => c.query("select app_private.reserve_login_email($1, $2)", [email, b.tenantId])),
  ).toBe("42501");
  await asClaims(a.admin.claims, (c) => c.query("select app_private.release_login_email($1)", [b.admin.email]));
  expect(await reserved(b.admin.email)).toEqual([{ tenant_id: b.tenantId }]);
});
