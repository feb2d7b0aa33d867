/**
 * Trusted documents: the directory GRAPHQL_TRUSTED_DOCUMENTS_DIR names holds one file per
 * committed operation, `<id>.graphql`, where the id is the SHA-256 (hex) of the file's text.
 * @grafserv/persisted serves a request `{"documentId": "<id>", "variables": …}` from that file and
 * refuses any other document. The texts and ids come from the client preset's manifest
 * (`client/generated/persisted-documents.json`), so the typed client's `__meta__.hash` is the id.
 *
 * Run as a script (`npm run codegen` does), it rewrites `client/trusted-documents/` from the manifest.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** A document's id: lowercase hex SHA-256 of its printed text (UTF-8), 64 characters. */
export function documentId(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * The trusted-documents directory's files for a manifest `{id: text}`: file name -> contents.
 * Throws when an id is not the hash of its text (a manifest from another hash setting).
 */
export function trustedDocumentFiles(manifest: Record<string, string>): Map<string, string> {
  const files = new Map<string, string>();
  for (const [id, text] of Object.entries(manifest)) {
    if (documentId(text) !== id) throw new Error(`Document id ${id} is not the SHA-256 of its text; rerun npm run codegen.`);
    files.set(`${id}.graphql`, text);
  }
  return files;
}

/** Replaces the `.graphql` files of `directory` with `files` (others are left alone). */
export function writeTrustedDocuments(directory: string, files: Map<string, string>): void {
  mkdirSync(directory, { recursive: true });
  for (const name of readdirSync(directory)) {
    // A removed operation must stop running, so stale documents go.
    if (name.endsWith(".graphql") && !files.has(name)) rmSync(path.join(directory, name));
  }
  for (const [name, text] of files) writeFileSync(path.join(directory, name), text);
}

export const MANIFEST = path.resolve(__dirname, "generated/persisted-documents.json");
export const TRUSTED_DOCUMENTS_DIR = path.resolve(__dirname, "trusted-documents");

if (require.main === module) {
  const files = trustedDocumentFiles(JSON.parse(readFileSync(MANIFEST, "utf8")));
  writeTrustedDocuments(TRUSTED_DOCUMENTS_DIR, files);
  console.log(`${files.size} trusted documents in ${path.relative(process.cwd(), TRUSTED_DOCUMENTS_DIR)}/`);
}
