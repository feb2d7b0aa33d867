/**
 * `npm start`: database (embedded unless DATABASE_URL is set), migrations, demo data on first
 * run, then the API server and, unless RUN_WORKER=false, the background worker.
 * `npm run worker` (`--worker-only`): the same set-up, then only the worker.
 */
import "./node-version";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config";
import { EmbeddedDatabaseError, localSecrets, openDatabase, superuserAppUrl } from "./db/database";
import { DEMO_ADMIN, DEMO_DOCTOR, seedDemo } from "./db/demo";
import { setUpDatabase } from "./db/setup";
import { startWorker } from "./jobs/worker";
import { createMailer } from "./mail/mailer";
import { createApp } from "./server";

async function main() {
  const { values: flags } = parseArgs({ options: { "worker-only": { type: "boolean", default: false } } });
  const workerOnly = flags["worker-only"];
  const config = loadConfig();
  console.log(`Node ${process.version}; ${config.production ? "production" : "development"} mode`);
  // The worker alone may run beside npm start, on its embedded database; a second server may not.
  const database = await openDatabase(config.database, config.dataDir, { shareRunning: workerOnly });
  if (database.shared) console.log("Using the embedded database that npm start runs");
  await setUpDatabase(database.urls);
  if (config.database.kind === "embedded" && (await seedDemo(database.urls.ownerUrl))) {
    console.log(
      `Demo clinic created. Admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}; doctor: ${DEMO_DOCTOR.email} / ${DEMO_DOCTOR.password}`,
    );
  }
  const mailer = createMailer(config.mail);
  const worker =
    workerOnly || config.runWorker
      ? await startWorker({
          ownerUrl: database.urls.ownerUrl,
          concurrency: config.workerConcurrency,
          mailer,
          appUrl: config.mail.appUrl,
        })
      : undefined;
  if (worker) {
    console.log(`Worker running; e-mail ${config.mail.smtpUrl ? "via SMTP" : `written to ${config.mail.outbox}/`}`);
  }
  // Development serves a migration's change without a restart (watch mode needs a superuser).
  const watchUrl = config.production ? undefined : superuserAppUrl(database.urls);
  if (!workerOnly && !config.production && !watchUrl)
    console.log("Schema watch off: it needs ROOT_DATABASE_URL (a superuser installs its event triggers)");
  const app = workerOnly ? undefined : await startServer(config, database.urls.authenticatorUrl, watchUrl);
  const shutdown = async () => {
    await app?.close();
    await worker?.stop();
    mailer.close();
    await database.stop();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

async function startServer(config: Config, authenticatorUrl: string, watchSuperuserUrl: string | undefined) {
  const jwtSecret = config.jwtSecret ?? localSecrets(config.dataDir).jwtSecret;
  const app = await createApp({
    authenticatorUrl,
    production: config.production,
    introspection: config.graphqlIntrospection,
    graphqlLimits: config.graphqlLimits,
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
    console.log(`GraphQL: ${base}/graphql`);
    if (config.graphqlIntrospection) console.log(`Ruru (GraphiQL): ${base}/graphiql`);
    console.log(`Auth: ${base}/auth/register-clinic, ${base}/auth/login, ${base}/auth/set-password`);
    if (config.servePages) console.log(`Pages the e-mails link to: ${base}/sign-in, ${base}/set-password`);
    if (watchSuperuserUrl) console.log("Schema watch on: a migration's change is served without a restart");
  });
  return app;
}

main().catch((error) => {
  // A configuration mistake, or a database already in use, is the operator's to fix: its message says what to do, no stack.
  console.error(error instanceof ConfigError || error instanceof EmbeddedDatabaseError ? error.message : error);
  process.exit(1);
});
