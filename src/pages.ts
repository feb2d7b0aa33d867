/**
 * The two pages the e-mails link to when no APP_URL names the clinic's own web app:
 * `/set-password` (reads the token from the URL fragment and posts it to /auth/set-password) and
 * `/sign-in`. Plain HTML and script from `web/`, no dependencies, under a strict
 * Content-Security-Policy (helmet): only our own scripts, styles and /auth may be reached.
 */
import path from "node:path";
import express from "express";
import helmet from "helmet";

const webDir = path.resolve(__dirname, "../web");

/** The pages' router, mounted at the server's root. */
export function pagesRouter(): express.Router {
  const router = express.Router();
  const secured = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    // The set-password token must never leave in a Referer.
    referrerPolicy: { policy: "no-referrer" },
  });
  const page =
    (file: string): express.RequestHandler =>
    (_req, res) =>
      res.sendFile(path.join(webDir, file));
  router.get("/set-password", secured, page("set-password.html"));
  router.get("/sign-in", secured, page("sign-in.html"));
  router.get("/", (_req, res) => res.redirect("/sign-in"));
  router.use("/web", secured, express.static(webDir, { index: false }));
  return router;
}
