/**
 * `npm run lint:db`: runs the catalogue linter (src/db/lint.ts) on the migrated database, as the
 * owner (DATABASE_URL, or the embedded database of `npm start`). Prints one block per finding
 * and exits with 1 when there is any.
 */
import { lintDatabase, projectScope } from "../db/lint";
import { runAsOwner } from "./run-as-owner";

if (require.main === module) {
  // 1: findings; 2: the linter could not run.
  runAsOwner(async (client, roles) => {
    const findings = await lintDatabase(client, projectScope(roles));
    for (const f of findings) console.log(`${f.rule}  ${f.object}\n  ${f.problem}\n  fix: ${f.fix}\n`);
    console.log(findings.length ? `${findings.length} finding(s).` : "No findings.");
    return findings.length ? 1 : 0;
  }, 2);
}
