/**
 * The PostGraphile preset: which schema is exposed, as which roles, with which plugins, and how
 * errors are masked. The API's shape comes from the database (tables, grants, comments); this
 * file only chooses the lenses.
 */
import type {} from "postgraphile";
import type { Request } from "express";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { defaultMaskError } from "postgraphile/grafserv";
import { GraphQLError, NoSchemaIntrospectionCustomRule } from "postgraphile/graphql";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import type { AccessClaims } from "./auth/tokens";
import { notFoundError, toPublicError } from "./errors";
import { graphqlErrorCodesPlugin, withCode, withoutSuggestions } from "./graphql-errors";
import { DEFAULT_GRAPHQL_LIMITS, graphqlLimitsPreset, type GraphqlLimits } from "./graphql-limits";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the bearer-token middleware when the request carries a valid access token. */
      claims?: AccessClaims;
    }
  }
}

/** Database roles the API switches to (db/roles.sql). */
export const ANONYMOUS_ROLE = "clinic_anonymous";
export const AUTHENTICATED_ROLE = "clinic_user";

/**
 * Database settings for one request: the role, and the verified claims that policies read as
 * `jwt.claims.<name>`. Unsigned requests get the anonymous role and no claim at all.
 */
export function pgSettingsFor(claims: AccessClaims | undefined): Record<string, string> {
  if (!claims) return { role: ANONYMOUS_ROLE };
  return {
    role: AUTHENTICATED_ROLE,
    "jwt.claims.sub": claims.sub,
    "jwt.claims.tenant_id": claims.tenant_id,
    "jwt.claims.user_role": claims.user_role,
    "jwt.claims.sid": claims.sid,
    "jwt.claims.doctor_id": claims.doctor_id ?? "",
  };
}

/**
 * Errors the database raised on purpose keep a stable code; everything else is masked. With
 * `hideSuggestions` (introspection off), GraphQL's request errors lose their "Did you mean …?".
 */
export function makeMaskError(hideSuggestions: boolean): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const masked = maskError(error);
    return hideSuggestions && masked.extensions?.code === "INVAL" && masked !== error ? withoutSuggestions([masked])[0] : masked;
  };
}

function maskError(error: GraphQLError): GraphQLError {
  // grafast's execution timeout (GRAPHQL_EXECUTION_TIMEOUT_MS), a limit like the others.
  if (error.message.startsWith("Execution timeout exceeded")) {
    return new GraphQLError("The request took too long and was stopped.", {
      nodes: error.nodes,
      path: error.path,
      extensions: { code: "LIMIT" },
    });
  }
  if (error.originalError && !(error.originalError instanceof GraphQLError)) {
    // @dataplan/pg's PgDeleteSingleStep raises this plain Error when RLS (or absence) leaves 0 rows.
    const publicError = error.originalError.message.startsWith("No values were deleted in collection")
      ? notFoundError
      : toPublicError(error.originalError);
    if (publicError.code !== "INTERNAL") {
      return new GraphQLError(publicError.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: { code: publicError.code },
      });
    }
  }
  const masked = defaultMaskError(error);
  // Masked (unexpected) errors get the INTERNAL code too; the server log has the original.
  if (masked !== error) return new GraphQLError(masked.message, { path: error.path, extensions: { code: "INTERNAL" } });
  // What is left is GraphQL's own request error (a variable of the wrong type, an unknown operation name).
  return withCode(error);
}

/** Refuses `__schema`/`__type` queries: production clients use known operations. */
const NoIntrospectionPlugin: GraphileConfig.Plugin = {
  name: "NoIntrospectionPlugin",
  version: "0.0.0",
  grafserv: {
    middleware: {
      setPreset(next, event) {
        event.validationRules.push(NoSchemaIntrospectionCustomRule);
        return next();
      },
    },
  },
};

export interface PresetOptions {
  /** clinic_authenticator's connection string. */
  authenticatorUrl: string;
  /** Introspection and Ruru (off in production unless GRAPHQL_INTROSPECTION=true). */
  introspection: boolean;
  /** Request limits; the defaults when left out. */
  limits?: GraphqlLimits;
  /**
   * Development only: a superuser's URL on the app's database turns on watch mode. PostGraphile
   * installs its event triggers (schema `postgraphile_watch`, which needs a superuser) and, on
   * their notice, rebuilds the schema: a migration's change is served without a restart.
   */
  watchSuperuserUrl?: string;
}

/** The preset for the server, and (with the same options) for printing the schema. */
export function makePreset(options: PresetOptions): GraphileConfig.Preset {
  const limits = options.limits ?? DEFAULT_GRAPHQL_LIMITS;
  return {
    extends: [
      PostGraphileAmberPreset,
      PgSimplifyInflectionPreset,
      PgAggregatesPreset,
      PostGraphileConnectionFilterPreset,
      graphqlLimitsPreset(limits),
    ],
    plugins: [
      graphqlErrorCodesPlugin({ hideSuggestions: !options.introspection }),
      ...(options.introspection ? [] : [NoIntrospectionPlugin]),
    ],
    // The index-based hiding of filters depends on the PostgreSQL version (18 counts every index
    // key, older only the first), which would make the schema differ between servers.
    disablePlugins: ["PgIndexBehaviorsPlugin"],
    pgServices: [
      makePgService({
        connectionString: options.authenticatorUrl,
        superuserConnectionString: options.watchSuperuserUrl,
        schemas: ["app_public"],
        // Introspect as the signed-in role so grants shape the schema: no mutation is offered
        // that the role could not run, and column grants decide the create/update inputs.
        pgSettingsForIntrospection: { role: AUTHENTICATED_ROLE },
      }),
    ],
    schema: {
      // Aggregates are opt-in per table (`@behavior +aggregates` in the table's comment).
      defaultBehavior: "-aggregates -groupedAggregates -aggregates:filterBy -relatedAggregates:orderBy -aggregates:orderBy",
      connectionFilterRelations: true,
      connectionFilterAllowNullInput: false,
    },
    grafast: {
      explain: false,
      context(requestContext) {
        const req = requestContext.expressv4?.req as Request | undefined;
        // statement_timeout is transaction-local like the claims: one slow request cannot hold a connection.
        return { pgSettings: { ...pgSettingsFor(req?.claims), statement_timeout: `${limits.statementTimeoutMs}ms` } };
      },
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: options.introspection,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      websockets: false,
      watch: options.watchSuperuserUrl !== undefined,
      maskError: makeMaskError(!options.introspection),
    },
  };
}
