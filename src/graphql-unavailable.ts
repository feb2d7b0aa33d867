/**
 * A GraphQL response whose errors include UNAVL (the database cannot be reached, src/errors.ts)
 * goes out as HTTP 503 with `Retry-After`, as /readyz says at the same moment: GraphQL's usual
 * 200 would hide an outage from status-code monitoring, load balancers and clients' retries.
 */
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from "./errors";
import { errorsIn } from "./graphql-notes";

/** The grafserv plugin. */
export const graphqlUnavailablePlugin: GraphileConfig.Plugin = {
  name: "GraphqlUnavailablePlugin",
  version: "0.0.0",
  grafserv: {
    middleware: {
      async processRequest(next) {
        const result = await next();
        if (result?.type !== "buffer" && result?.type !== "json") return result;
        const errors = errorsIn(result.type === "buffer" ? result.buffer : result.json);
        if (!errors?.some((error) => error?.extensions?.code === "UNAVL")) return result;
        return {
          ...result,
          statusCode: 503,
          headers: { ...result.headers, "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
        };
      },
    },
  },
};
