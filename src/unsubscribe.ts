/**
 * `/unsubscribe`: the page a patient opens from the link in an appointment e-mail, without
 * signing in; the token in the link is the key (app_private.unsubscribe_patient). Opening the
 * link only shows a button, since mail scanners open links too; the button, or a mail client's
 * RFC 8058 one-click POST, turns the patient's appointment e-mails off. Server-rendered HTML
 * with no script or style, under a Content-Security-Policy that allows neither, and no Referer
 * that could carry the token away.
 */
import escapeHtml from "escape-html";
import express, { type Request, type Response } from "express";
import helmet from "helmet";
import type { Pool } from "pg";
import { toPublicError } from "./errors";
import { inTransactionWith } from "./db/transaction";

function page(res: Response, status: number, title: string, body: string) {
  res
    .status(status)
    .type("html")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
        `<title>${escapeHtml(title)}</title></head><body>` +
        `<h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    );
}

const tokenOf = (req: Request): string => {
  const token = req.query.token;
  return typeof token === "string" ? token.slice(0, 200) : "";
};

/** The router, mounted at the server's root; `pool` connects as the authenticator (anonymous role per transaction). */
export function unsubscribeRouter(pool: Pool): express.Router {
  const router = express.Router();
  router.use(
    "/unsubscribe",
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], formAction: ["'self'"], baseUri: ["'none'"], frameAncestors: ["'none'"] },
      },
      referrerPolicy: { policy: "no-referrer" },
    }),
  );
  router.get("/unsubscribe", (req, res) => {
    res.set("Cache-Control", "no-store");
    page(
      res,
      200,
      "Stop appointment e-mails",
      `<p>Confirm that you no longer want e-mails about your appointments (confirmations, reminders, changes). ` +
        `The clinic can turn them on again at your request.</p>` +
        `<form method="post" action="/unsubscribe?token=${escapeHtml(encodeURIComponent(tokenOf(req)))}">` +
        `<button type="submit">Stop appointment e-mails</button></form>`,
    );
  });
  router.post("/unsubscribe", express.urlencoded({ extended: false, limit: "1kb" }), async (req, res) => {
    res.set("Cache-Control", "no-store");
    try {
      const tenantName = await inTransactionWith(pool, {}, async (client) => {
        const { rows } = await client.query<{ name: string }>("select app_private.unsubscribe_patient($1) as name", [
          tokenOf(req),
        ]);
        return rows[0].name;
      });
      page(
        res,
        200,
        "You will receive no more appointment e-mails",
        `<p>${escapeHtml(tenantName)} will not e-mail you about appointments any more.</p>`,
      );
    } catch (error) {
      const publicError = toPublicError(error);
      if (publicError.code !== "TOKEN") throw error;
      page(res, 400, "This link does not work", `<p>${escapeHtml(publicError.message)} Ask the clinic to stop the e-mails.</p>`);
    }
  });
  return router;
}
