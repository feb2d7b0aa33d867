/**
 * Cross-origin access for browser front ends (the `cors` package): which origins may call
 * /graphql and /auth, with which methods and headers. A disallowed origin gets no CORS header at
 * all, so the browser refuses to hand it the answer; requests without `Origin` (curl, servers,
 * same-origin pages) are untouched.
 */
import cors from "cors";
import type { RequestHandler } from "express";
import type { CorsOrigins } from "./config";

const ANY_LOCALHOST_PORT = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

/** Whether `origin` (the request's `Origin` header) may call the API from a browser. */
export function isAllowedOrigin(origins: CorsOrigins, origin: string | undefined): boolean {
  if (!origin) return false;
  return origins === "any-localhost-port" ? ANY_LOCALHOST_PORT.test(origin) : origins.includes(origin);
}

/** The custom header that marks a cookie-mode /auth request as sent by script, not by a form (CSRF). */
export const CSRF_HEADER = "x-requested-with";

/** Seconds a browser may cache a preflight answer (Chromium caps it at 7200). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS for the API routes. Preflights (OPTIONS) of allowed origins answer 204 here, before any
 * rate limit. Credentials are allowed, for the opt-in refresh-token cookie on /auth.
 */
export function corsFor(origins: CorsOrigins): RequestHandler {
  return cors({
    origin: (origin, callback) => callback(null, isAllowedOrigin(origins, origin)),
    methods: ["GET", "POST"],
    allowedHeaders: ["authorization", "content-type", CSRF_HEADER],
    credentials: true,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  });
}
