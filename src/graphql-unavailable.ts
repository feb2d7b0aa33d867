/**
 * A GraphQL response that failed because the database cannot be reached (its errors carry UNAVL,
 * src/errors.ts) and returned no data goes out as HTTP 503 with `Retry-After`, as /readyz says at
 * the same moment: GraphQL's usual 200 would hide an outage from status-code monitoring, load
 * balancers and clients' retries. One with some data keeps 200: a mutation field that committed
 * before the outage must not invite a retry of the whole document.
 */
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "./errors";

type Body = { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: unknown } }[] } | null;

/** The body, parsed only when it mentions UNAVL. */
function unavailableBody(body: Buffer | unknown): Body {
  if (!Buffer.isBuffer(body)) return body as Body;
  if (!body.includes('"UNAVL"')) return null;
  try {
    return JSON.parse(body.toString("utf8")) as Body;
  } catch {
    return null;
  }
}

/** Whether the response is an outage's: an UNAVL error, and no field with data. */
export function isOutageResponse(body: Buffer | unknown): boolean {
  const parsed = unavailableBody(body);
  if (!parsed?.errors?.some((error) => error?.extensions?.code === "UNAVL")) return false;
  return Object.values(parsed.data ?? {}).every((value) => value === null);
}

/** The grafserv plugin. */
export const graphqlUnavailablePlugin: GraphileConfig.Plugin = {
  name: "GraphqlUnavailablePlugin",
  version: "0.0.0",
  grafserv: {
    middleware: {
      async processRequest(next) {
        const result = await next();
        if (result?.type !== "buffer" && result?.type !== "json") return result;
        if (!isOutageResponse(result.type === "buffer" ? result.buffer : result.json)) return result;
        return {
          ...result,
          statusCode: 503,
          headers: { ...result.headers, "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
        };
      },
    },
  },
};
