/**
 * The pages e-mail links open when no APP_URL names the clinic's own app: served only then, with
 * a strict Content-Security-Policy and no Referer. test/browser.test.ts drives them in Chromium.
 */
import { useServer } from "./helpers";

const withPages = useServer({ servePages: true });
const withoutPages = useServer({ servePages: false });

test.each(["/set-password", "/sign-in", "/web/set-password.js", "/web/pages.css"])(
  "%s is served with a strict Content-Security-Policy and no referrer",
  async (path) => {
    const response = await fetch(withPages.url + path);
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp.split(";").sort()).toEqual(
      [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].sort(),
    );
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  },
);

test("the set-password page has no inline script and posts only to /auth", async () => {
  const html = await (await fetch(`${withPages.url}/set-password`)).text();
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
  const script = await (await fetch(`${withPages.url}/web/set-password.js`)).text();
  expect([...script.matchAll(/fetch\("([^"]+)"/g)].map((match) => match[1]).sort()).toEqual([
    "/auth/logout",
    "/auth/set-password",
  ]);
});

test("the server's root, which the welcome e-mail links to, leads to the sign-in page", async () => {
  const response = await fetch(`${withPages.url}/`, { redirect: "manual" });
  expect([response.status, response.headers.get("location")]).toEqual([302, "/sign-in"]);
});

test("with APP_URL set the pages are not served: links go to the clinic's app", async () => {
  for (const path of ["/", "/set-password", "/sign-in", "/web/set-password.js"]) {
    expect((await fetch(withoutPages.url + path)).status).toBe(404);
  }
});
