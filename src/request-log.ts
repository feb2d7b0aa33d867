/**
 * One log line per request (pino-http): request id, method, path, status, duration, the GraphQL
 * operation name and error codes, and the verified user and tenant ids. The line is built from
 * named fields only, never from headers, query strings or bodies, so tokens, cookies, passwords
 * and patient values cannot reach it.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import { pinoHttp } from "pino-http";
import type { Logger } from "./logger";

/** What handlers note about a request for its log line and metrics (in `res.locals`). */
export interface RequestNotes {
  /** The GraphQL operation that ran (its name in the document). */
  operationName?: string;
  /** `extensions.code` / `error.code` of each error the response carries. */
  errorCodes: string[];
  /** Ids of unexpected errors, each logged on a line of its own (src/graphile.config.ts). */
  errorIds: string[];
}

/** The notes of a request, created on first use. */
export function notesOf(res: Response | ServerResponse): RequestNotes {
  const locals = (res as Response).locals;
  locals.notes ??= { errorCodes: [], errorIds: [] };
  return locals.notes as RequestNotes;
}

/**
 * A client's (or proxy's) `X-Request-Id` is kept when it is 1–128 characters of letters, digits
 * and `._:-`, so it can correlate logs across services without smuggling anything into a log
 * line; otherwise a new UUID is the id. Either way the response carries it back.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(req: IncomingMessage, res: ServerResponse): string {
  const offered = req.headers["x-request-id"];
  const id = typeof offered === "string" && SANE_REQUEST_ID.test(offered) ? offered : randomUUID();
  res.setHeader("X-Request-Id", id);
  return id;
}

/** The path without its query string (a GET query string could hold GraphQL variables). */
const pathOf = (req: IncomingMessage) => ((req as Request).originalUrl ?? req.url ?? "").split("?")[0];

const PROBES = new Set(["/healthz", "/readyz", "/metrics"]);

function fieldsOf(req: IncomingMessage, res: ServerResponse, responseTime: number) {
  const claims = (req as Request).claims;
  const notes = notesOf(res);
  return {
    method: req.method,
    path: pathOf(req),
    status: res.statusCode,
    durationMs: responseTime,
    ...(notes.operationName ? { operationName: notes.operationName } : {}),
    ...(notes.errorCodes.length ? { errorCodes: notes.errorCodes } : {}),
    ...(notes.errorIds.length ? { errorIds: notes.errorIds } : {}),
    ...(claims ? { userId: claims.sub, tenantId: claims.tenant_id } : {}),
    ...(res.writableFinished ? {} : { aborted: true }),
  };
}

type ErrorBody = { error?: { code?: unknown }; errors?: { extensions?: { code?: unknown } }[] } | null | undefined;

/**
 * Notes the codes of every JSON error our handlers send, in either shape: REST's `{ error: { code } }`
 * and GraphQL's `{ errors: [{ extensions: { code } }] }` (grafserv's own responses are noted by
 * src/graphql-notes.ts, as it does not use `res.json`).
 */
function noteJsonErrors(_req: Request, res: Response, next: NextFunction) {
  const json = res.json.bind(res);
  res.json = (body: ErrorBody) => {
    const codes = [
      body?.error?.code,
      ...(Array.isArray(body?.errors) ? body.errors.map((error) => error?.extensions?.code) : []),
    ];
    notesOf(res).errorCodes.push(...codes.filter((code) => code !== undefined).map(String));
    return json(body);
  };
  next();
}

/** The request-logging middleware; it also sets `req.log`, a logger that adds the request id. */
export function requestLogger(logger: Logger) {
  const log = pinoHttp({
    logger,
    genReqId: requestId,
    // No `req`/`res` objects (they would bring headers): the line is fieldsOf's, plus reqId.
    quietReqLogger: true,
    quietResLogger: true,
    customLogLevel: (req, res, error) => {
      // Probes come every few seconds: their successes would bury the requests that matter, and
      // an unready database is a warning (the pool's own lines tell why), not a failed request.
      if (PROBES.has(pathOf(req)) && !error) return res.statusCode < 400 ? "debug" : "warn";
      return error || res.statusCode >= 500 ? "error" : "info";
    },
    customSuccessObject: (req, res, value) => fieldsOf(req, res, value.responseTime as number),
    customErrorObject: (req, res, _error, value) => fieldsOf(req, res, value.responseTime as number),
    customSuccessMessage: () => "request completed",
    customErrorMessage: () => "request failed",
  });
  return [log, noteJsonErrors];
}
