/**
 * The two pages patients open from their e-mails, without signing in; the token in the link is
 * the key, checked in SQL:
 *   /unsubscribe     turns the patient's appointment e-mails off (app_private.unsubscribe_patient),
 *                    also by a mail client's RFC 8058 one-click POST;
 *   /waitlist-offer  books or declines a freed slot offered from the waitlist
 *                    (app_private.answer_waitlist_offer).
 * Opening a link only shows buttons, since mail scanners open links too; the buttons post. Server-
 * rendered HTML with no script or style, under a Content-Security-Policy that allows neither, and
 * no Referer that could carry the token away.
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
    .set("Cache-Control", "no-store")
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

/** A form posting back to the page's own address (relative, so a path-prefixed proxy keeps it), token included. */
const form = (req: Request, buttons: { answer: string; label: string }[]) =>
  `<form method="post" action="${escapeHtml(`?token=${encodeURIComponent(tokenOf(req))}`)}">` +
  buttons.map((b) => `<button type="submit" name="answer" value="${b.answer}">${escapeHtml(b.label)}</button> `).join("") +
  `</form>`;

/**
 * Runs `call` (one SQL function of the token) as the anonymous role; a TOKEN error becomes a 400
 * page with its message, saying nothing about anyone.
 */
async function answered(pool: Pool, res: Response, call: () => [string, unknown[]], then: (value: string) => void) {
  try {
    const value = await inTransactionWith(pool, {}, async (client) => {
      const [sql, params] = call();
      return (await client.query<{ value: string }>(sql, params)).rows[0].value;
    });
    then(value);
  } catch (error) {
    const publicError = toPublicError(error);
    if (publicError.code !== "TOKEN") throw error;
    page(res, 400, "This link does not work", `<p>${escapeHtml(publicError.message)} Contact the clinic.</p>`);
  }
}

/** The router, mounted at the server's root; `pool` connects as the authenticator (anonymous role per transaction). */
export function patientPagesRouter(pool: Pool): express.Router {
  const router = express.Router();
  router.use(
    ["/unsubscribe", "/waitlist-offer"],
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], formAction: ["'self'"], baseUri: ["'none'"], frameAncestors: ["'none'"] },
      },
      referrerPolicy: { policy: "no-referrer" },
    }),
    express.urlencoded({ extended: false, limit: "1kb" }),
  );

  router.get("/unsubscribe", (req, res) =>
    page(
      res,
      200,
      "Stop appointment e-mails",
      `<p>Confirm that you no longer want e-mails about your appointments (confirmations, reminders, changes). ` +
        `The clinic can turn them on again at your request.</p>` +
        form(req, [{ answer: "unsubscribe", label: "Stop appointment e-mails" }]),
    ),
  );
  router.post("/unsubscribe", (req, res) =>
    answered(
      pool,
      res,
      () => ["select app_private.unsubscribe_patient($1) as value", [tokenOf(req)]],
      (tenantName) =>
        page(
          res,
          200,
          "You will receive no more appointment e-mails",
          `<p>${escapeHtml(tenantName)} will not e-mail you about appointments any more.</p>`,
        ),
    ),
  );

  router.get("/waitlist-offer", (req, res) =>
    page(
      res,
      200,
      "A time has become free",
      `<p>Book the time offered in your e-mail, or let the next patient on the waiting list have it.</p>` +
        form(req, [
          { answer: "accept", label: "Book this time" },
          { answer: "decline", label: "No, thank you" },
        ]),
    ),
  );
  router.post("/waitlist-offer", async (req, res) => {
    const answer: unknown = req.body?.answer;
    if (answer !== "accept" && answer !== "decline") {
      page(res, 400, "Choose an answer", "<p>Open the link in your e-mail again and choose a button.</p>");
      return;
    }
    await answered(
      pool,
      res,
      () => ["select app_private.answer_waitlist_offer($1, $2) as value", [tokenOf(req), answer === "accept"]],
      (outcome) => {
        if (outcome === "booked") {
          page(res, 200, "Your appointment is booked", "<p>You will receive its confirmation by e-mail.</p>");
        } else if (outcome === "declined") {
          page(res, 200, "Thank you", "<p>The time goes to the next patient. You stay on the waiting list.</p>");
        } else {
          page(res, 409, "This time is no longer free", "<p>It was booked meanwhile. You stay on the waiting list.</p>");
        }
      },
    );
  });
  return router;
}
