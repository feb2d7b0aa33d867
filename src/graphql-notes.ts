/**
 * Notes each GraphQL request's operation name and error codes for its log line and metrics
 * (src/request-log.ts): the name from the document grafast is about to run (or, for one that fails
 * parsing or validation, the name the request declared); the codes, with the
 * `errorId` of each unexpected error (which names that error's own log line), from the response
 * body grafserv is about to send, so they are exactly what the client receives.
 */
import type { Response } from "express";
import { getOperationAST } from "postgraphile/graphql";
import { notesOf } from "./request-log";

const responseOf = (context: Partial<Grafast.RequestContext> | undefined) => context?.expressv4?.res as Response | undefined;

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,127}$/;

type ErrorsBody = { errors?: { extensions?: { code?: unknown; errorId?: unknown } }[] } | null;

/** The `errors` of a GraphQL response body: only a body that mentions them is parsed. */
function errorsIn(body: Buffer | unknown): NonNullable<ErrorsBody>["errors"] {
  if (!Buffer.isBuffer(body)) return (body as ErrorsBody)?.errors;
  if (!body.includes('"errors"')) return undefined;
  try {
    return (JSON.parse(body.toString("utf8")) as ErrorsBody)?.errors;
  } catch {
    return undefined;
  }
}

/** The grafserv/grafast plugin. */
export const graphqlNotesPlugin: GraphileConfig.Plugin = {
  name: "GraphqlNotesPlugin",
  version: "0.0.0",
  grafast: {
    middleware: {
      prepareArgs(next, { args }) {
        const res = responseOf(args.requestContext);
        const name = getOperationAST(args.document, args.operationName)?.name?.value;
        if (res && name) notesOf(res).operationName = name;
        return next();
      },
    },
  },
  grafserv: {
    middleware: {
      // The name the client declared, for a document that fails before it runs; a GraphQL Name only.
      processGraphQLRequestBody(next, { body, request }) {
        const res = responseOf(request?.requestContext);
        const name = body.operationName;
        if (res && typeof name === "string" && GRAPHQL_NAME.test(name)) notesOf(res).operationName = name;
        return next();
      },
      async processRequest(next, event) {
        const result = await next();
        const res = responseOf(event.requestDigest.requestContext);
        if (!res || (result?.type !== "buffer" && result?.type !== "json")) return result;
        const errors = errorsIn(result.type === "buffer" ? result.buffer : result.json);
        const notes = notesOf(res);
        for (const error of Array.isArray(errors) ? errors : []) {
          notes.errorCodes.push(String(error?.extensions?.code ?? "UNCODED"));
          if (typeof error?.extensions?.errorId === "string") notes.errorIds.push(error.extensions.errorId);
        }
        return result;
      },
    },
  },
};
