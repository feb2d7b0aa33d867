/**
 * `npm start`: database (embedded unless DATABASE_URL is set), migrations, demo data on first
 * run, then the API server.
 */
import { loadConfig } from "./config";
import { localSecrets, openDatabase } from "./db/database";
import { DEMO_ADMIN, DEMO_DOCTOR, seedDemo } from "./db/demo";
import { setUpDatabase } from "./db/setup";
import { createApp } from "./server";

async function main() {
  const config = loadConfig();
  console.log(`Node ${process.version}; ${config.production ? "production" : "development"} mode`);
  const database = await openDatabase(config.database, config.dataDir);
  await setUpDatabase(database.urls);
  if (config.database.kind === "embedded" && (await seedDemo(database.urls.ownerUrl))) {
    console.log(
      `Demo clinic created. Admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}; doctor: ${DEMO_DOCTOR.email} / ${DEMO_DOCTOR.password}`,
    );
  }
  const jwtSecret = config.jwtSecret ?? localSecrets(config.dataDir).jwtSecret;
  const app = await createApp({
    authenticatorUrl: database.urls.authenticatorUrl,
    production: config.production,
    tokens: {
      secret: jwtSecret,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      expiresInSeconds: config.jwtExpiresInSeconds,
    },
  });
  app.server.listen(config.port, () => {
    const base = `http://localhost:${config.port}`;
    console.log(`GraphQL: ${base}/graphql`);
    if (!config.production) console.log(`Ruru (GraphiQL): ${base}/graphiql`);
    console.log(`Auth: ${base}/auth/register-clinic, ${base}/auth/login, ${base}/auth/set-password`);
  });
  const shutdown = async () => {
    await app.close();
    await database.stop();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
