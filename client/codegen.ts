/**
 * graphql-codegen's configuration for the front ends' typed client (`npm run codegen`): the
 * operations in `client/operations/` are validated against the committed `schema.graphql` and
 * written to `client/generated/` as typed documents, with a manifest of their trusted-document ids
 * (`persisted-documents.json`), which `client/trusted-documents.ts` turns into the directory that
 * GRAPHQL_TRUSTED_DOCUMENTS_DIR reads.
 */
import type { CodegenConfig } from "@graphql-codegen/cli";
import { documentId } from "./trusted-documents";

export interface ClientCodegenOptions {
  /** The schema, as SDL. */
  schema?: string;
  /** Glob of the operation documents. */
  documents?: string;
  /** Output directory, ending in `/`. */
  output?: string;
}

/** The configuration, for paths relative to the project root; the tests pass others. */
export function clientCodegenConfig({
  schema = "schema.graphql",
  documents = "client/operations/*.graphql",
  output = "client/generated/",
}: ClientCodegenOptions = {}): CodegenConfig {
  return {
    // The committed schema, not a running server: codegen works offline and in CI, and
    // test/schema.test.ts keeps the file equal to what the migrations generate.
    schema,
    documents,
    // A document that matches nothing is a mistake, not an empty client.
    ignoreNoDocuments: false,
    generates: {
      [output]: {
        preset: "client",
        presetConfig: {
          // Components get whole results; no fragment masking without fragments to mask.
          fragmentMasking: false,
          persistedDocuments: {
            // Keep the document in the typed node (usable by any client) and add its id as `__meta__.hash`.
            mode: "embedHashInDocument",
            // Plain hex: @grafserv/persisted takes only ids matching /^[a-zA-Z0-9_-]+$/, so the
            // preset's own sha256 form ("sha256:<hex>") would be refused.
            hashAlgorithm: documentId,
          },
        },
        config: {
          // Every custom scalar needs a type here: a new one in the schema fails codegen.
          strictScalars: true,
          scalars: {
            UUID: "string",
            Datetime: "string", // ISO 8601 with offset
            Date: "string", // YYYY-MM-DD
            Time: "string", // HH:MM[:SS], local time of day
            JSON: "unknown",
            BigInt: "string", // aggregates: exceeds a JS number, so sent as a string
            BigFloat: "string",
            Cursor: "string",
          },
          useTypeImports: true,
        },
      },
    },
  };
}

export default clientCodegenConfig();
