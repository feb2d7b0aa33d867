/**
 * `npm run db:env`: prints the `export` lines the DBA workflow needs (graphile-migrate reads
 * DATABASE_URL, SHADOW_DATABASE_URL, ROOT_DATABASE_URL, and `.gmrc`'s placeholders read
 * the role names and OWNER_PASSWORD and AUTHENTICATOR_PASSWORD), for the embedded database (passwords from the data
 * folder, the port it runs on) or DATABASE_URL's. AUTH_DATABASE_URL too, so that every npm
 * command of that shell addresses the same database. Use: eval "$(npm run -s db:env)".
 */
import { ConfigError, loadConfig } from "../config";
import { databaseUrls, EmbeddedDatabaseError } from "../db/database";
import type { DatabaseRoles } from "../config";
import type { SetUpUrls } from "../db/setup";

/** A value quoted for a POSIX shell. */
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The variables, in the order printed; the shadow database is the app database's name + `_shadow`. */
export function dbaVariables(urls: SetUpUrls, roles: DatabaseRoles): [string, string][] {
  const owner = new URL(urls.ownerUrl);
  const shadow = new URL(urls.ownerUrl);
  shadow.pathname = `${owner.pathname}_shadow`;
  return [
    ...(urls.rootUrl ? [["ROOT_DATABASE_URL", urls.rootUrl] as [string, string]] : []),
    ["DATABASE_URL", urls.ownerUrl],
    ["AUTH_DATABASE_URL", urls.authenticatorUrl],
    ["SHADOW_DATABASE_URL", shadow.toString()],
    ["OWNER_PASSWORD", decodeURIComponent(owner.password)],
    ["AUTHENTICATOR_PASSWORD", decodeURIComponent(new URL(urls.authenticatorUrl).password)],
    ["DATABASE_AUTHENTICATOR", roles.authenticator],
    ["DATABASE_ANONYMOUS", roles.anonymous],
    ["DATABASE_VISITOR", roles.visitor],
  ];
}

async function main() {
  const config = loadConfig();
  const urls = await databaseUrls(config.database, config.dataDir);
  if (!urls.rootUrl)
    console.log("# ROOT_DATABASE_URL is unset: graphile-migrate needs a superuser for reset and the shadow database.");
  for (const [name, value] of dbaVariables(urls, config.database.roles)) console.log(`export ${name}=${shellQuote(value)}`);
}

main().catch((error) => {
  console.error(error instanceof ConfigError || error instanceof EmbeddedDatabaseError ? error.message : error);
  process.exit(1);
});
