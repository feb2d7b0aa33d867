/**
 * `npm start`: database (embedded unless DATABASE_URL is set), migrations, demo data on first
 * run, then the API server and, unless RUN_WORKER=false, the background worker.
 * `npm run worker` (`--worker-only`): the same set-up, then only the worker.
 */
import "./node-version";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config";
import { localSecrets, openDatabase } from "./db/database";
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
  const database = await openDatabase(config.database, config.dataDir);
  await setUpDatabase(database.urls, config.database.roles);
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
  const app = workerOnly ? undefined : await startServer(config, database.urls.authenticatorUrl);
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

async function startServer(config: Config, authenticatorUrl: string) {
  const jwtSecret = config.jwtSecret ?? localSecrets(config.dataDir).jwtSecret;
  const app = await createApp({
    authenticatorUrl,
    roles: config.database.roles,
    production: config.production,
    introspection: config.graphqlIntrospection,
    graphqlLimits: config.graphqlLimits,
    trustProxyHops: config.trustProxyHops,
    corsOrigins: config.corsOrigins,
    servePages: config.servePages,
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
  });
  return app;
}

main().catch((error) => {
  // A configuration mistake is the operator's to fix: its message names what to set, no stack.
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
