/**
 * GraphQL requests check their session in SQL, once per transaction: PostGraphile's pg adaptor is
 * wrapped so that each request transaction starts with `app_private.begin_request` (src/db/
 * transaction.ts) instead of `set_config` calls. When the claims no longer describe a live session
 * (logout, reuse, deactivation, role change), the operation stops and the whole response becomes
 * 401 CREDS, as for a bad token.
 */
import type {} from "postgraphile";
import type { Request } from "express";
import type { Pool } from "pg";
import * as pgAdaptor from "postgraphile/adaptors/pg";
import { ApiError, SESSION_ENDED_MESSAGE } from "./errors";
import { inTransactionWith, type RequestSettings } from "./db/transaction";

interface GraphqlRequest extends RequestSettings {
  sessionEnded: boolean;
}

/** The context's pgSettings object of each request, to that request's settings. */
const requests = new WeakMap<object, GraphqlRequest>();
/** Each Express request to its settings, for the response. */
const byHttpRequest = new WeakMap<Request, GraphqlRequest>();

/**
 * The `pgSettings` for a request's GraphQL context: an object that holds no setting itself but
 * stands for `settings`, which the adaptor below hands to begin_request.
 */
export function requestPgSettings(req: Request | undefined, settings: RequestSettings): Record<string, string> {
  const request: GraphqlRequest = { ...settings, sessionEnded: false };
  const pgSettings = {};
  requests.set(pgSettings, request);
  if (req) byHttpRequest.set(req, request);
  return pgSettings;
}

type WithPgClient = Awaited<ReturnType<typeof pgAdaptor.createWithPgClient>>;

/**
 * PostGraphile's pg adaptor, except for request settings made by `requestPgSettings`: their
 * transaction is started by begin_request (inTransactionWith). Other settings (introspection's
 * role) and the superuser variant (watch mode) go to the stock adaptor.
 */
const requestAdaptor: typeof pgAdaptor = {
  ...pgAdaptor,
  createWithPgClient(adaptorSettings, variant) {
    const stock = pgAdaptor.createWithPgClient(adaptorSettings, variant);
    const pool = adaptorSettings?.pool as Pool | undefined;
    if (variant === "SUPERUSER" || !pool) return stock;
    const withPgClient: WithPgClient = async (pgSettings, callback) => {
      const request = pgSettings ? requests.get(pgSettings) : undefined;
      if (!request) return stock(pgSettings, callback);
      return inTransactionWith(pool, request, (client, sessionValid) => {
        if (!sessionValid) {
          request.sessionEnded = true;
          throw new ApiError("CREDS", SESSION_ENDED_MESSAGE);
        }
        // The stock client wrapper on a connection already in our transaction (mutations get a savepoint).
        return pgAdaptor.makeWithPgClientViaPgClientAlreadyInTransaction(client, true)(null, callback);
      });
    };
    withPgClient.release = () => stock.release?.();
    return withPgClient;
  },
};

/** `makePgService`'s result with the adaptor above. */
export function withRequestSessions(service: GraphileConfig.PgServiceConfiguration): GraphileConfig.PgServiceConfiguration {
  return { ...service, adaptor: requestAdaptor };
}

/** Turns a response whose session ended during the operation into 401 CREDS, without data. */
export const sessionEndedPlugin: GraphileConfig.Plugin = {
  name: "SessionEndedPlugin",
  version: "0.0.0",
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        const req = event.requestDigest.requestContext?.expressv4?.req as Request | undefined;
        if (!req || !byHttpRequest.get(req)?.sessionEnded) return result;
        return {
          type: "json",
          statusCode: 401,
          headers: { "content-type": "application/json; charset=utf-8" },
          json: { errors: [{ message: SESSION_ENDED_MESSAGE, extensions: { code: "CREDS" } }] },
        };
      },
    },
  },
};
