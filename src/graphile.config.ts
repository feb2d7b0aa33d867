/**
 * The PostGraphile preset: which schema is exposed, as which roles, with which plugins, and how
 * errors are masked. The API's shape comes from the database (tables, grants, comments); this
 * file only chooses the lenses.
 */
import type {} from "postgraphile";
import { randomUUID } from "node:crypto";
import type { Request } from "express";
import type { Pool } from "pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { defaultMaskError } from "postgraphile/grafserv";
import { isSafeError } from "postgraphile/grafast";
import { GraphQLError, NoSchemaIntrospectionCustomRule } from "postgraphile/graphql";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import type { AccessClaims } from "./auth/tokens";
import type { DatabaseRoles } from "./config";
import { fromLibraryError, internalError, toPublicError } from "./errors";
import { graphqlErrorCodesPlugin, withCode, withoutSuggestions } from "./graphql-errors";
import { DEFAULT_GRAPHQL_LIMITS, graphqlLimitsPreset, type GraphqlLimits } from "./graphql-limits";
import { graphqlNotesPlugin } from "./graphql-notes";
import { graphqlUnavailablePlugin } from "./graphql-unavailable";
import { logUnavailable } from "./unavailable-log";
import { currentRowsPlugin } from "./graphql-current-rows";
import { tenantRoutingPlugin } from "./graphql-routing";
import { tenantIsReadOnlyPlugin } from "./graphql-tenant-read-only";
import { requestPgSettings, sessionEndedPlugin, withRequestSessions } from "./graphql-session";
import { fallbackLogger, type Logger } from "./logger";
// Dates and times read with IMMUTABLE casts, which Citus accepts in RETURNING.
import "./immutable-casts";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the bearer-token middleware when the request carries a valid access token. */
      claims?: AccessClaims;
    }
  }
}

/** Database roles the API switches to (db/roles.sql); their names come from configuration. */
export type ApiRoles = Pick<DatabaseRoles, "anonymous" | "visitor">;

/**
 * Errors the database raised on purpose keep a stable code; everything else is masked. With
 * `hideSuggestions` (introspection off), GraphQL's request errors lose their "Did you mean …?".
 * An unexpected error is logged with an `errorId` that the client's error and the request's log
 * line (src/graphql-notes.ts) carry too.
 */
export function makeMaskError(hideSuggestions: boolean, logger: Logger): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const masked = maskError(error, logger);
    return hideSuggestions && masked.extensions?.code === "INVAL" && masked !== error ? withoutSuggestions([masked])[0] : masked;
  };
}

function maskError(error: GraphQLError, logger: Logger): GraphQLError {
  // grafast's execution timeout (GRAPHQL_EXECUTION_TIMEOUT_MS), a limit like the others.
  if (error.message.startsWith("Execution timeout exceeded")) {
    return new GraphQLError("The request took too long and was stopped.", {
      nodes: error.nodes,
      path: error.path,
      extensions: { code: "LIMIT" },
    });
  }
  if (error.originalError && !(error.originalError instanceof GraphQLError)) {
    const publicError = fromLibraryError(error.originalError) ?? toPublicError(error.originalError);
    if (publicError.code === "UNAVL") logUnavailable(logger, error.originalError);
    if (publicError.code !== "INTERNAL") {
      return new GraphQLError(publicError.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: publicError.conflicts
          ? { code: publicError.code, conflicts: publicError.conflicts }
          : { code: publicError.code },
      });
    }
    // What grafserv's defaultMaskError would log with console.error, logged as JSON without pg's row details.
    if (!isSafeError(error.originalError)) {
      const errorId = randomUUID();
      logger.error({ err: error.originalError, errorId }, "unexpected error in a GraphQL operation, answered INTERNAL");
      return new GraphQLError(internalError.message, { path: error.path, extensions: { code: "INTERNAL", errorId } });
    }
  }
  const masked = defaultMaskError(error);
  // A grafast SafeError keeps its message (written for clients), with the INTERNAL code.
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

/**
 * "Series" is its own plural, so simplify-inflection's list names would read `appointmentSerieses`;
 * lists of series are `…SeriesList` instead (the query field `appointmentSeriesList`).
 */
const seriesListInflectionPlugin: GraphileConfig.Plugin = {
  name: "SeriesListInflectionPlugin",
  version: "0.0.0",
  inflection: {
    replace: {
      distinctPluralize(previous, _options, str) {
        return /series$/i.test(str) ? `${str}List` : previous!(str);
      },
    },
  },
};

export interface PresetOptions {
  /** The authenticator's connection string. */
  authenticatorUrl: string;
  /** The roles the authenticator switches to. */
  roles: ApiRoles;
  /** Introspection and Ruru (off in production unless GRAPHQL_INTROSPECTION=true). */
  introspection: boolean;
  /** Request limits; the defaults when left out. */
  limits?: GraphqlLimits;
  /** The pool to run operations on (the server's, so it can be observed and closed); else one is made from the URL. */
  pool?: Pool;
  /** Where unexpected errors are logged. */
  logger?: Logger;
  /**
   * Development only: a superuser's URL on the app's database turns on watch mode. PostGraphile
   * installs its event triggers (schema `postgraphile_watch`, which needs a superuser) and, on
   * their notice, rebuilds the schema: a migration's change is served without a restart.
   */
  watchSuperuserUrl?: string;
  /**
   * Every select on a tenant table also names the caller's tenant, so Citus routes it to one shard
   * (src/graphql-routing.ts); on when left out. Off, the row-level policies alone limit what a
   * request reads: the isolation attack turns it off to test them so.
   */
  tenantRouting?: boolean;
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
      graphqlNotesPlugin,
      graphqlUnavailablePlugin,
      sessionEndedPlugin,
      seriesListInflectionPlugin,
      tenantIsReadOnlyPlugin,
      currentRowsPlugin,
      ...(options.tenantRouting === false ? [] : [tenantRoutingPlugin]),
      ...(options.introspection ? [] : [NoIntrospectionPlugin]),
    ],
    // The index-based hiding of filters depends on the PostgreSQL version (18 counts every index
    // key, older only the first), which would make the schema differ between servers.
    disablePlugins: ["PgIndexBehaviorsPlugin"],
    pgServices: [
      withRequestSessions(
        makePgService({
          ...(options.pool ? { pool: options.pool } : { connectionString: options.authenticatorUrl }),
          superuserConnectionString: options.watchSuperuserUrl,
          schemas: ["app_public"],
          // Introspect as the signed-in role so grants shape the schema: no mutation is offered
          // that the role could not run, and column grants decide the create/update inputs.
          pgSettingsForIntrospection: { role: options.roles.visitor },
        }),
      ),
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
        return {
          pgSettings: requestPgSettings(req, { claims: req?.claims, statementTimeoutMs: limits.statementTimeoutMs }),
          tenantId: req?.claims?.tenant_id ?? null,
          userId: req?.claims?.sub ?? null,
        };
      },
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: options.introspection,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      websockets: false,
      watch: options.watchSuperuserUrl !== undefined,
      maskError: makeMaskError(!options.introspection, options.logger ?? fallbackLogger()),
    },
  };
}
