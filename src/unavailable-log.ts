/**
 * Why the database is unreachable, told to operators at most once per 10 s per process: the
 * requests it fails are answered 503 UNAVL and logged on their own lines without a cause, so an
 * outage under load cannot flood the log, and a wrong password or a full server still shows.
 */
import type { Logger } from "./logger";

const EVERY_MS = 10_000;
let lastAt = -Infinity;

/** Logs the error's SQLSTATE or network code and message (never a stack or query), unless one was logged in the last 10 s. */
export function logUnavailable(logger: Logger, error: unknown) {
  const now = Date.now();
  if (now - lastAt < EVERY_MS) return;
  lastAt = now;
  const { code, message } = error as { code?: unknown; message?: unknown };
  logger.error(
    { code: typeof code === "string" ? code : undefined },
    `database unreachable, requests answered 503 UNAVL: ${typeof message === "string" ? message : "no message"}`,
  );
}
