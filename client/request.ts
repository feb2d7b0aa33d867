/**
 * The one piece of glue a front end needs around the generated documents: the JSON body that runs
 * one, by its text or, on a server that takes trusted documents only, by its id.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

/** A document from `client/generated/graphql.ts`; codegen adds its trusted id as `__meta__.hash`. */
type GeneratedDocument<Result, Variables> = TypedDocumentNode<Result, Variables> & { __meta__?: { hash?: string } };

/** The trusted-document id of a generated document (the SHA-256 hex of its text); throws if it has none. */
export function documentIdOf<Result, Variables>(document: TypedDocumentNode<Result, Variables>): string {
  const id = (document as GeneratedDocument<Result, Variables>).__meta__?.hash;
  if (!id) throw new Error("This document has no trusted-document id: use one from client/generated/graphql.ts.");
  return id;
}

/**
 * The body to POST (as JSON) to `/graphql`: `{documentId, variables}` when `trusted` (the server
 * runs with GRAPHQL_TRUSTED_DOCUMENTS_DIR and refuses document texts), else `{query, variables}`.
 * The answer's `data` has the type `Result`.
 */
export function graphqlBody<Result, Variables>(
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  { trusted }: { trusted: boolean },
): { documentId: string; variables: Variables } | { query: string; variables: Variables } {
  return trusted ? { documentId: documentIdOf(document), variables } : { query: print(document), variables };
}
