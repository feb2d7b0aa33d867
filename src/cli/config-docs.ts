/**
 * `npm run docs:config`: rewrites the README's "Configuration" table from VARIABLES in
 * src/config.ts, between its two marker comments, so the README cannot drift from what the code
 * reads; test/configuration-table.test.ts fails when the README differs from this output.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { format, resolveConfig } from "prettier";
import { VARIABLES, type Variable } from "../config";

/** The README whose "Configuration" table is generated. */
export const README = path.resolve(__dirname, "../../README.md");
const BEGIN = "<!-- Generated from VARIABLES in src/config.ts by `npm run docs:config`; edit there. -->";
const END = "<!-- End of the generated configuration table. -->";

const readers = { tests: "tests only: ", dba: "DBAs (graphile-migrate): " };

/** One table row's cells, as Markdown. */
function row(name: string, variable: Variable): string[] {
  const range = variable.range ? ` (${variable.range[0]} to ${variable.range[1]})` : "";
  const production = variable.production;
  return [
    `\`${name}\``,
    variable.default === undefined ? (variable.defaultText ?? "") : `\`${variable.default}\`${range}`,
    `${variable.readBy ? readers[variable.readBy] : ""}${variable.meaning}`,
    production === undefined ? "" : "required" in production ? "**required**" : production.advice,
  ];
}

/** The Markdown table of every variable, unaligned (prettier aligns it). */
export function configurationTable(): string {
  const rows = [
    ["variable", "default", "meaning", "production"],
    ["-", "-", "-", "-"],
  ];
  for (const [name, variable] of Object.entries(VARIABLES)) rows.push(row(name, variable));
  return rows.map((cells) => `| ${cells.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`).join("\n");
}

/** `readme` with the table between the markers replaced by the generated one, formatted as prettier would. */
export async function readmeWithConfigurationTable(readme: string): Promise<string> {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README.md needs the lines\n${BEGIN}\n${END}\naround its configuration table.`);
  const text = `${readme.slice(0, begin + BEGIN.length)}\n\n${configurationTable()}\n\n${readme.slice(end)}`;
  return format(text, { ...(await resolveConfig(README)), filepath: README });
}

if (require.main === module) {
  readmeWithConfigurationTable(readFileSync(README, "utf8")).then((readme) => {
    writeFileSync(README, readme);
    console.log(`README.md: ${Object.keys(VARIABLES).length} variables in the configuration table.`);
  });
}
