/// <reference lib="dom" />
/**
 * The browser path, in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * a front end served from a second local origin signs up, signs in, queries GraphQL, refreshes in
 * two tabs at once and signs out, using the README's own `session.js`; a page from an origin CORS
 * does not allow is refused by the browser; the set-password page is driven from the link of an
 * e-mail written to the outbox. Needs /usr/bin/chromium (`.ci/run` installs it).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { createMailer } from "../src/mail/mailer";
import { asClaims, asOwner, closePool, signUpClinic, startServer, uniq, type TestServer } from "./helpers";
import { drainJobs, jobRunner } from "./mail";

/** The README's "Front-end sessions" module, as written there (only its API address is ours). */
function readmeSessionModule(api: string): string {
  const readme = readFileSync(path.join(__dirname, "../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Front-end sessions"));
  const module = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!module) throw new Error('README: no js block in "Front-end sessions"');
  return module.replace(/^const API = ".*";$/m, `const API = ${JSON.stringify(api)};`);
}

/** A static web server for a front end: its page, the session module, and a script exposing it. */
async function serveFrontEnd(sessionModule: string): Promise<{ server: Server; origin: string }> {
  const files: Record<string, [string, string]> = {
    "/": ["text/html", '<!doctype html><title>Clinic front end</title><script type="module" src="/app.js"></script>'],
    "/session.js": ["text/javascript", sessionModule],
    "/app.js": ["text/javascript", 'import * as session from "/session.js"; window.session = session;'],
  };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ""];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": file[0] }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` };
}

declare global {
  // The README's session module, as the front end's script exposes it.
  interface Window {
    session: {
      signIn(email: string, password: string): Promise<{ email: string }>;
      accessToken(): Promise<string>;
      graphql(query: string, variables?: object): Promise<any>;
      signOut(): Promise<void>;
    };
  }
}

let api: TestServer;
let allowed: { server: Server; origin: string };
let foreign: { server: Server; origin: string };
let context: BrowserContext;

const CHROMIUM = "/usr/bin/chromium";

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium).`);
  // The API's address is known only once it listens, and the front ends need it: start the API
  // with a placeholder origin list, then fill it in (the array is read on every request).
  const corsOrigins: string[] = [];
  api = await startServer({ corsOrigins, servePages: true });
  allowed = await serveFrontEnd(readmeSessionModule(api.url));
  foreign = await serveFrontEnd(readmeSessionModule(api.url));
  corsOrigins.push(allowed.origin);
  context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "clinic-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await context?.close();
  for (const web of [allowed, foreign]) await new Promise((resolve) => web?.server.close(resolve));
  await api?.close();
  await closePool();
});

async function tab(origin: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(origin);
  await page.waitForFunction(() => window.session !== undefined);
  return page;
}

test("a front end on an allowed origin signs up, signs in, queries, refreshes in two tabs at once and signs out", async () => {
  const email = `${uniq("browser")}@example.test`;
  const password = "a long browser passphrase";
  const first = await tab(allowed.origin);

  const signUp = await first.evaluate(
    async ({ url, email, password }) => {
      const response = await fetch(`${url}/auth/register-clinic`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          clinicName: "Browser Clinic",
          fullName: "Bea Browser",
          email,
          password,
          timeZone: "Europe/Madrid",
        }),
      });
      return response.status;
    },
    { url: api.url, email, password },
  );
  expect(signUp).toBe(201);

  expect(
    await first.evaluate(({ email, password }) => window.session.signIn(email, password), { email, password }),
  ).toMatchObject({
    email,
  });
  const query = "{ currentUser { email } currentTenant { name } }";
  expect(await first.evaluate((query) => window.session.graphql(query), query)).toEqual({
    currentUser: { email },
    currentTenant: { name: "Browser Clinic" },
  });

  // Two tabs present the same refresh token at the same moment: both get the same successor.
  const second = await tab(allowed.origin);
  const refreshInTab = (page: Page) =>
    page.evaluate(async (url) => {
      const response = await fetch(`${url}/auth/refresh`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refreshToken: localStorage.getItem("refreshToken") }),
      });
      const body = (await response.json()) as { refreshToken: string };
      if (response.ok) localStorage.setItem("refreshToken", body.refreshToken);
      return { status: response.status, refreshToken: body.refreshToken as string };
    }, api.url);
  const [a, b] = await Promise.all([refreshInTab(first), refreshInTab(second)]);
  expect([a.status, b.status]).toEqual([200, 200]);
  expect(a.refreshToken).toBe(b.refreshToken);

  // Both tabs keep working: the second has no access token yet and refreshes with the shared
  // successor; two fresh tabs that need one at once take turns (the module's Web Lock).
  const third = await tab(allowed.origin);
  const answers = await Promise.all(
    [first, second, third].map((page) => page.evaluate((query) => window.session.graphql(query), query)),
  );
  expect(answers.map((answer) => answer.currentUser.email)).toEqual([email, email, email]);

  // Signing out in one tab ends the session in every tab at once, access tokens included.
  await first.evaluate(() => window.session.signOut());
  for (const page of [second, third]) {
    const error = await page.evaluate(async (query) => {
      try {
        await window.session.graphql(query);
        return "no error";
      } catch (error) {
        return (error as { code: string }).code;
      }
    }, query);
    expect(error).toBe("CREDS");
  }
  for (const page of [first, second, third]) await page.close();
});

test("a page from an origin CORS does not allow is refused by the browser", async () => {
  const page = await tab(foreign.origin);
  const outcome = (route: string, body: object) =>
    page.evaluate(
      async ({ url, body }) => {
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          return `answered ${response.status}`;
        } catch (error) {
          return `refused: ${(error as Error).message}`;
        }
      },
      { url: api.url + route, body },
    );
  expect(await outcome("/graphql", { query: "{ currentUser { email } }" })).toBe("refused: Failed to fetch");
  expect(await outcome("/auth/login", { email: "a@b.test", password: "whatever it is" })).toBe("refused: Failed to fetch");
  await page.close();
});

test("the set-password page, opened from the account e-mail's link, sets the password and leads to sign-in", async () => {
  const outbox = path.join(mkdtempSync(path.join(tmpdir(), "clinic-outbox-")), "outbox");
  const mailer = createMailer({ smtpUrl: undefined, outbox, from: "Clinic Platform <no-reply@clinic.test>" }, () => {});
  const runner = jobRunner(mailer, undefined, api.url);
  await drainJobs();
  const clinic = await signUpClinic();
  const email = `${uniq("invited")}@example.test`;
  await asClaims(clinic.admin.claims, (client) =>
    client.query("select app_public.add_user($1, 'Ivy Invited', 'receptionist')", [email]),
  );
  await runner.run();
  await runner.close();
  const mails = await Promise.all(readdirSync(outbox).map((file) => simpleParser(readFileSync(path.join(outbox, file)))));
  const account = mails.find((mail) => (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text === email);
  const link = /(http:\/\/\S+\/set-password#token=[0-9a-f]{64})/.exec(account?.text ?? "")?.[1];
  expect(link).toBeDefined();

  const page = await context.newPage();
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(link as string);
  // The token is read, then taken out of the address bar.
  expect(page.url()).toBe(`${api.url}/set-password`);

  const submit = async (password: string, repeat = password) => {
    await page.fill("#password", password);
    await page.fill("#repeat", repeat);
    await page.click("button[type=submit]");
  };
  await submit("short one", "short two");
  await page.waitForFunction(() => document.getElementById("message")?.textContent !== "");
  expect(await page.textContent("#message")).toBe("The two passwords differ.");
  await submit("too short");
  await page.waitForFunction(() => /too short/.test(document.getElementById("message")?.textContent ?? ""));
  expect(await page.textContent("#message")).toBe("That password is too short: use at least 10 characters.");
  await submit("a long invited passphrase");
  await page.waitForURL(`${api.url}/sign-in?password-set=1`);
  expect(await page.isVisible("#welcome")).toBe(true);

  await page.fill("#email", email);
  await page.fill("#password", "a long invited passphrase");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => /account works/.test(document.getElementById("message")?.textContent ?? ""));
  expect(await page.textContent("#message")).toBe(
    `Your account works: you are Ivy Invited (receptionist) at ${(await clinicName(clinic.tenantId)) ?? ""}. Use it in your clinic's app.`,
  );

  // The same link again: the token was spent.
  await page.goto(link as string);
  await submit("another long passphrase");
  await page.waitForFunction(() => /expired or was already used/.test(document.getElementById("message")?.textContent ?? ""));

  // Every request went to the API's own origin, and the token never left in a URL.
  expect(requests.every((url) => url.startsWith(`${api.url}/`))).toBe(true);
  expect(requests.filter((url) => /token/.test(url.replace(/#.*/, "")))).toEqual([]);
  const posted = requests.filter((url) => url.includes("/auth/")).map((url) => new URL(url).pathname);
  expect(new Set(posted)).toEqual(new Set(["/auth/set-password", "/auth/logout", "/auth/login"]));
  await page.close();
});

const clinicName = (tenantId: string): Promise<string | undefined> =>
  asOwner(async (client) => (await client.query("select name from app_public.tenants where id = $1", [tenantId])).rows[0]?.name);
