/**
 * The process's logger (pino): JSON lines on stdout in production, for a log shipper; readable
 * lines (pino-pretty) in development. What may be logged is decided where a line is written
 * (src/request-log.ts writes named fields only, never headers or bodies); the redaction list and
 * the error serializer here are the net under that, for tokens, passwords and PostgreSQL's error
 * details, which quote row values.
 */
import { pino, stdSerializers, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";
import { Logger as GraphileLogger } from "graphile-worker";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** pino level name: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. */
  level: string;
  /** Human-readable lines (development) instead of JSON. */
  pretty: boolean;
  /** Where lines go; stdout when left out. Tests pass a stream to read them. */
  destination?: DestinationStream;
}

/** Keys whose values never reach a log line, at any depth pino's redaction reaches. */
const REDACT = ["password", "token", "accessToken", "refreshToken", "authorization", "cookie"].flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
]);

/**
 * An error as logged: its type, message, stack and SQLSTATE, but not the rest of a `pg`
 * DatabaseError (`detail`, `where`, `hint` quote the row's values, e.g. "Key (email)=(…)").
 */
function errorForLog(error: Error) {
  const { type, message, stack } = stdSerializers.err(error);
  const code = (error as { code?: unknown }).code;
  return { type, message, stack, ...(typeof code === "string" ? { code } : {}) };
}

/** Creates the logger. */
export function createLogger(options: LoggerOptions): Logger {
  const destination =
    options.pretty && !options.destination
      ? pretty({ sync: true, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" })
      : options.destination;
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT, censor: "[redacted]" },
      serializers: { err: errorForLog },
    },
    destination,
  );
}

/** Errors only, as JSON on stderr: for an app or preset built without a logger (tests, schema printing). */
export function fallbackLogger(): Logger {
  return createLogger({ level: "error", pretty: false, destination: pino.destination(2) });
}

/**
 * graphile-worker's and graphile-migrate's logger (both take @graphile/logger's), writing to
 * ours with its scope (worker id, task, job id) as fields. `infoAs: "debug"` quiets a chatty step.
 */
export function graphileLogger(logger: Logger, infoAs: "info" | "debug" = "info"): GraphileLogger {
  const levels = { error: "error", warning: "warn", info: infoAs, debug: "debug" } as const;
  return new GraphileLogger((scope) => (level, message) => logger[levels[level]]({ ...scope }, message));
}

/**
 * The log of a task repeated every few seconds (the outbox drain, the heartbeat): its first
 * failure is one warning, then nothing until it works again, which is one line too. A database
 * outage thus adds two lines per task, not one per round.
 */
export function repeatedTaskLog(logger: Logger, task: string) {
  let failing = false;
  return {
    failed(error: Error) {
      if (!failing) logger.warn(`${task} failed: ${error.message} (told again once it works)`);
      failing = true;
    },
    succeeded() {
      if (failing) logger.info(`${task} works again`);
      failing = false;
    },
  };
}
