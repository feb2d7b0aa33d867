/**
 * The API's error codes: one table, used by the GraphQL error mask and the /auth routes alike.
 * Codes raised by the database (`raise ... using errcode = 'PLANL'`) keep the database's message,
 * which is written for clinic staff; PostgreSQL's own errors get a fixed message here, because
 * theirs name constraints, columns and values. Anything not listed is masked as INTERNAL.
 * The README's "Error codes" section documents each one.
 */

export type ErrorCode =
  | "PLANL"
  | "TRIAL"
  | "OFFIC"
  | "OVLAP"
  | "HOURS"
  | "RECUR"
  | "DNIED"
  | "TAKEN"
  | "NOREF"
  | "INVAL"
  | "NTFND"
  | "TOKEN"
  | "WEAKP"
  | "CREDS"
  | "RATEL"
  | "LIMIT"
  | "UNAVL"
  | "INTERNAL";

/** CREDS's message when a token or refresh token names a session that has ended (logout, reuse, deactivation). */
export const SESSION_ENDED_MESSAGE = "The session has ended; sign in again.";

/** One occurrence of a recurring series that could not be booked or changed, and why. */
export interface SeriesConflict {
  /** The occurrence's local date, `YYYY-MM-DD`. */
  date: string;
  /** The occurrence's start, an ISO 8601 instant. */
  startsAt: string;
  code: "OVLAP" | "HOURS" | "OFFIC";
  message: string;
}

/** What a client receives: a stable code and a plain message; RECUR adds the refused occurrences. */
export interface PublicError {
  code: ErrorCode;
  message: string;
  conflicts?: SeriesConflict[];
}

/** SQLSTATEs raised by our own SQL with a message meant for people. */
const ownCodes = new Set<string>(["PLANL", "TRIAL", "OFFIC", "HOURS", "DNIED", "TAKEN", "TOKEN", "INVAL", "NTFND"]);

/** PostgreSQL's SQLSTATEs that clients may learn about, with our wording. */
const postgresCodes: Record<string, PublicError> = {
  "23P01": { code: "OVLAP", message: "The doctor already has an appointment at that time." },
  "42501": { code: "DNIED", message: "You are not allowed to do that." },
  "23505": { code: "TAKEN", message: "That value is already in use." },
  "23503": { code: "NOREF", message: "A record this refers to does not exist, or is still referred to." },
  "23514": { code: "INVAL", message: "A value is not valid." },
  "23502": { code: "INVAL", message: "A required value is missing." },
  "22P02": { code: "INVAL", message: "A value has the wrong format." },
  "22007": { code: "INVAL", message: "A date or time has the wrong format." },
  "22008": { code: "INVAL", message: "A date or time is out of range." },
  "22001": { code: "INVAL", message: "A value is too long." },
  "22021": { code: "INVAL", message: "A value contains a character that is not allowed." },
  "22003": { code: "INVAL", message: "A number is out of range." },
  "22025": { code: "INVAL", message: "A text pattern may not end with a backslash." },
  "22023": { code: "INVAL", message: "A value is not valid." },
  "57014": { code: "LIMIT", message: "The request took too long and was stopped." },
};

/** Constraints whose violation needs its own wording, by constraint name (before postgresCodes). */
const constraintErrors: Record<string, PublicError> = {
  working_hours_no_overlap: {
    code: "OVLAP",
    message: "The doctor already works at that time on that weekday, at this or another office.",
  },
};

/** HTTP status for each code, for the REST routes. */
export const httpStatus: Record<ErrorCode, number> = {
  PLANL: 403,
  TRIAL: 403,
  OFFIC: 400,
  OVLAP: 409,
  HOURS: 409,
  RECUR: 409,
  DNIED: 403,
  TAKEN: 409,
  NOREF: 400,
  INVAL: 400,
  NTFND: 404,
  TOKEN: 400,
  WEAKP: 400,
  CREDS: 401,
  RATEL: 429,
  LIMIT: 400,
  UNAVL: 503,
  INTERNAL: 500,
};

export const internalError: PublicError = { code: "INTERNAL", message: "Something went wrong on our side." };

/** The database cannot be reached: 503, with `Retry-After` (UNAVAILABLE_RETRY_AFTER_SECONDS). */
export const unavailableError: PublicError = {
  code: "UNAVL",
  message: "The service cannot reach its database at the moment; try again shortly.",
};

/** Seconds a client waits before retrying a request answered 503 UNAVL (its `Retry-After`). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** Node's codes for a connection that cannot be made or was lost. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/** SQLSTATEs of a server that is going away or full: admin or crash shutdown, starting up, too many connections. */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** node-postgres's own errors for a connection lost or never obtained (they carry no code). */
const LOST_CONNECTION_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
];

/**
 * Whether an error means the database is unreachable rather than that the request was wrong: a
 * network error, a connection exception (SQLSTATE class 08), a shutdown or full server, a FATAL
 * error (the server ended the session, e.g. the database does not accept connections), or
 * node-postgres's lost connection. Looks through `cause`.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  const { code, severity, message, cause } = error as { code?: unknown; severity?: unknown; message?: unknown; cause?: unknown };
  const text = typeof code === "string" ? code : "";
  if (NETWORK_CODES.has(text) || text.startsWith("08") || UNAVAILABLE_STATES.has(text) || severity === "FATAL") return true;
  if (typeof message === "string" && LOST_CONNECTION_MESSAGES.some((start) => message.startsWith(start))) return true;
  return cause !== error && isDatabaseUnavailable(cause);
}

/** A delete that matched no row the caller may delete: absent, or another tenant's, alike. */
export const notFoundError: PublicError = { code: "NTFND", message: "There is no such record to delete." };

/**
 * Plain `Error`s our libraries throw for a client's mistake, by the start of their message (they
 * carry no code): @dataplan/pg's delete that matched no row, and the connection-filter plugin's
 * refusal of empty objects and nulls in a filter (options connectionFilterAllowEmptyObjectInput
 * and connectionFilterAllowNullInput, both off).
 */
const libraryErrors: [prefix: string, error: PublicError][] = [
  ["No values were deleted in collection", notFoundError],
  ["Empty objects are forbidden in filter argument input.", { code: "INVAL", message: "A filter may not be empty." }],
  ["Null literals are forbidden in filter argument input.", { code: "INVAL", message: "A filter may not be null." }],
];

/** What a client may learn of a plain library error (see libraryErrors); undefined for any other error. */
export function fromLibraryError(error: Error): PublicError | undefined {
  return libraryErrors.find(([prefix]) => error.message.startsWith(prefix))?.[1];
}

/** An error to send as it is: thrown by our TypeScript with a public code and message. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A series refused as a whole: app_private.raise_series_conflicts puts the refused occurrences in
 * the error's detail as JSON. Only their documented fields are passed on; a detail that does not
 * parse is INTERNAL.
 */
function seriesConflicts(error: Error & { detail?: string }): PublicError {
  try {
    const parsed = JSON.parse(error.detail ?? "") as SeriesConflict[];
    const conflicts = parsed.map(({ date, startsAt, code, message }) => ({ date, startsAt, code, message }));
    return { code: "RECUR", message: error.message, conflicts };
  } catch {
    return internalError;
  }
}

/**
 * Translates a thrown error (an ApiError, or a `pg` DatabaseError with `.code` = SQLSTATE) to
 * what a client may see; a database that cannot be reached is UNAVL. Unknown errors become
 * INTERNAL: never SQL, names, values or stacks.
 */
export function toPublicError(error: unknown): PublicError {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  if (isDatabaseUnavailable(error)) return unavailableError;
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (typeof sqlState === "string") {
    if (ownCodes.has(sqlState)) return { code: sqlState as ErrorCode, message: (error as Error).message };
    if (sqlState === "RECUR") return seriesConflicts(error as Error & { detail?: string });
    const constraint = (error as { constraint?: unknown }).constraint;
    if (typeof constraint === "string" && constraintErrors[constraint]) return constraintErrors[constraint];
    if (postgresCodes[sqlState]) return postgresCodes[sqlState];
  }
  return internalError;
}
