/**
 * CORS: browser pages on allowed origins may call /graphql and /auth; any other origin gets no
 * CORS header, so the browser withholds the answer. Preflights are cached and never spend the
 * /auth rate limit. (test/browser.test.ts shows the same in a real browser.)
 */
import { ConfigError, loadConfig } from "../src/config";
import { isAllowedOrigin } from "../src/cors";
import { useServer } from "./helpers";

const ALLOWED = "https://app.clinic.example";
const server = useServer({
  corsOrigins: [ALLOWED],
  rateLimits: { perIpPerMinute: 2, failedLoginsPerAccount: 100 },
  trustProxyHops: 1,
});

const preflight = (path: string, origin: string) =>
  fetch(server.url + path, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type",
    },
  });
const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));

test.each(["/graphql", "/auth/login", "/auth/refresh"])(
  "a preflight from an allowed origin to %s answers 204, cached",
  async (path) => {
    const response = await preflight(path, ALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(response.headers.get("access-control-allow-methods")).toBe("GET,POST");
    expect(response.headers.get("access-control-allow-headers")).toBe("authorization,content-type,x-requested-with");
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("access-control-max-age")).toBe("600");
    expect(response.headers.get("vary")).toMatch(/Origin/);
  },
);

test("a disallowed origin gets no CORS header, on preflights and on requests", async () => {
  for (const origin of ["https://evil.example", "https://app.clinic.example.evil.example", "http://localhost:5173", "null"]) {
    expect(corsHeaders(await preflight("/graphql", origin))).toEqual([]);
    expect(corsHeaders(await preflight("/auth/login", origin))).toEqual([]);
    const post = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { origin, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ currentUser { email } }" }),
    });
    expect(corsHeaders(post)).toEqual([]);
  }
});

test("an allowed origin's real request carries the CORS answer headers", async () => {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { origin: ALLOWED, "content-type": "application/json" },
    body: JSON.stringify({ query: "{ currentUser { email } }" }),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
});

test("preflights never count against the /auth rate limit", async () => {
  for (let i = 0; i < 10; i++) expect((await preflight("/auth/login", ALLOWED)).status).toBe(204);
  for (let i = 0; i < 10; i++) await preflight("/auth/login", "https://evil.example");
  // The limit is 2 a minute: both real requests still get through, the third is limited. (An IP of
  // this test's own: the counters are shared by every server of the test run.)
  const login = () =>
    server.post("/auth/login", { email: "nobody@example.test", password: "wrong password" }, { "x-forwarded-for": "10.40.0.1" });
  expect((await login()).status).toBe(401);
  expect((await login()).status).toBe(401);
  expect((await login()).status).toBe(429);
});

describe("CORS_ORIGINS", () => {
  test("development allows any localhost or 127.0.0.1 port by default; production allows none", () => {
    const development = loadConfig({}).corsOrigins;
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:3001", "http://localhost"]) {
      expect(isAllowedOrigin(development, origin)).toBe(true);
    }
    for (const origin of [
      "https://localhost:5173",
      "http://localhost.evil.example",
      "http://192.168.1.2:5173",
      "null",
      undefined,
    ]) {
      expect(isAllowedOrigin(development, origin)).toBe(false);
    }
    const production = loadConfig({
      NODE_ENV: "production",
      DATABASE_URL: "postgres://o@db/clinic",
      AUTH_DATABASE_URL: "postgres://a@db/clinic",
      JWT_SECRET: "x".repeat(32),
      SMTP_URL: "smtp://localhost",
    });
    expect(production.corsOrigins).toEqual([]);
    expect(isAllowedOrigin(production.corsOrigins, "http://localhost:5173")).toBe(false);
  });

  test("lists exact origins, and refuses anything that is not one", () => {
    expect(loadConfig({ CORS_ORIGINS: "https://a.example, http://localhost:5173" }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:5173",
    ]);
    for (const bad of ["https://a.example/", "https://a.example/app", "a.example", "*", "ftp://a.example"]) {
      expect(() => loadConfig({ CORS_ORIGINS: bad })).toThrow(ConfigError);
    }
  });
});
