/**
 * Limits on the GraphQL endpoint, so one request cannot take the server or the database down:
 * body size, batching, depth, aliases, cost (graphql-armor's validation rules), page sizes, a
 * per-request statement_timeout and grafast's execution timeout, and, when configured, trusted
 * documents only (@grafserv/persisted). Every limit is configurable (README "Configuration").
 * A refused request answers `{errors: [{message, extensions: {code: "LIMIT"}}]}`.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { PersistedPlugin } from "@grafserv/persisted";
import {
  constant,
  lambda,
  SafeError,
  type ConnectionStep,
  type FieldArgs,
  type FieldInfo,
  type Step,
} from "postgraphile/grafast";
import { GraphQLError, Kind, parse, visit, type ValidationContext } from "postgraphile/graphql";
import { LRU } from "@graphile/lru";

export interface GraphqlLimits {
  /** Largest request body, in bytes. */
  maxBodyBytes: number;
  /** Deepest selection nesting. */
  maxDepth: number;
  /** Most aliases in one document. */
  maxAliases: number;
  /** Highest graphql-armor cost (objects 2, scalars 1, growing with depth). */
  maxCost: number;
  /** Largest `first` / `last` on a connection, and the page a connection asked for without either. */
  maxPageSize: number;
  /** PostgreSQL statement_timeout for each request's statements, in milliseconds. */
  statementTimeoutMs: number;
  /** grafast's execution budget per request, in milliseconds. */
  executionTimeoutMs: number;
  /** When set, only the documents stored here (`<sha256>.graphql`) run: trusted documents. */
  trustedDocumentsDir: string | undefined;
}

export const DEFAULT_GRAPHQL_LIMITS: GraphqlLimits = {
  maxBodyBytes: 100_000,
  maxDepth: 12,
  maxAliases: 20,
  maxCost: 10_000,
  maxPageSize: 500,
  statementTimeoutMs: 5_000,
  executionTimeoutMs: 10_000,
  trustedDocumentsDir: undefined,
};

const limitError = (message: string) => ({ errors: [{ message, extensions: { code: "LIMIT" } }] });

/**
 * graphql-armor options that report a refusal as a validation error with `extensions.code =
 * "LIMIT"` (by default it throws, which grafserv answers as a 500).
 */
const reportAsLimit = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ""), { extensions: { code: "LIMIT" } })),
  ],
};

/** The grafserv/grafast side: validation rules, timeouts, trusted documents. */
export function graphqlLimitsPreset(limits: GraphqlLimits): GraphileConfig.Preset {
  const LimitsPlugin: GraphileConfig.Plugin = {
    name: "GraphqlLimitsPlugin",
    version: "0.0.0",
    // Around the trusted-documents plugin: its refusals get our code, and the page-size check
    // below sees the document it looked up by id.
    before: ["PersistedPlugin"],
    grafserv: {
      middleware: {
        async processGraphQLRequestBody(next, event) {
          try {
            await next();
          } catch (error) {
            if (!(error instanceof SafeError) || error.extensions?.statusCode !== 400) throw error;
            throw new SafeError("Send the id of a trusted document (documentId); other documents are not run here.", {
              statusCode: 400,
              code: "LIMIT",
            });
          }
          const { query, variableValues } = event.body as { query?: unknown; variableValues?: unknown };
          if (typeof query !== "string") {
            // grafserv's own refusal ("query must be a string") would carry no code.
            throw new SafeError("Send the operation's text as `query`, or a trusted document's `documentId`.", {
              statusCode: 400,
              code: "INVAL",
            });
          }
          let largest = 0;
          try {
            largest = largestPage(query, (variableValues ?? {}) as Record<string, unknown>);
          } catch {
            return; // not parseable: grafserv answers the syntax error
          }
          if (largest > limits.maxPageSize) {
            throw new SafeError(`Ask for at most ${limits.maxPageSize} rows at a time (first/last).`, {
              statusCode: 400,
              code: "LIMIT",
            });
          }
        },
        setPreset(next, event) {
          event.validationRules.push(
            maxDepthRule({ n: limits.maxDepth, ...reportAsLimit }),
            maxAliasesRule({ n: limits.maxAliases, ...reportAsLimit }),
            costLimitRule({ maxCost: limits.maxCost, ...reportAsLimit }),
          );
          return next();
        },
      },
    },
  };
  return {
    plugins: [LimitsPlugin, defaultPageSizePlugin(limits.maxPageSize), ...(limits.trustedDocumentsDir ? [PersistedPlugin] : [])],
    grafast: { timeouts: { execution: limits.executionTimeoutMs } },
    grafserv: {
      maxRequestLength: limits.maxBodyBytes,
      // JSON only, so every request passes through graphqlRequestGuard's checks.
      allowedRequestContentTypes: ["application/json"],
      ...(limits.trustedDocumentsDir
        ? { persistedOperationsDirectory: limits.trustedDocumentsDir, allowUnpersistedOperation: false }
        : {}),
    },
  };
}

type FieldPlan = ($parent: Step, fieldArgs: FieldArgs, info: FieldInfo) => Step;

/**
 * A default page on every connection: asked for without `first` and `last` (or with both null),
 * a connection returns its first `pageSize` rows, not the whole table. PostGraphile 5 has no such
 * option, so this wraps each connection field's plan to set `first` from both arguments, and
 * takes over `first`'s own applyPlan (grafast allows setting it once).
 */
export function defaultPageSizePlugin(pageSize: number): GraphileConfig.Plugin {
  const isConnection = (scope: { isPgFieldConnection?: boolean }) => scope.isPgFieldConnection === true;
  return {
    name: "DefaultPageSizePlugin",
    version: "0.0.0",
    after: ["PgFirstLastBeforeAfterArgsPlugin"],
    schema: {
      hooks: {
        GraphQLObjectType_fields_field(field, _build, { scope }) {
          const plan = field.plan as FieldPlan | undefined;
          if (!isConnection(scope) || !plan) return field;
          return {
            ...field,
            plan($parent: Step, fieldArgs: FieldArgs, info: FieldInfo) {
              const $connection = plan($parent, fieldArgs, info) as Step & Partial<Pick<ConnectionStep<unknown>, "setFirst">>;
              const argNames = new Set(info.field.args.map((arg) => arg.name));
              // `first`'s own applyPlan called setFirst too: a plan without it never honoured `first`.
              if (!argNames.has("first") || typeof $connection.setFirst !== "function") return $connection;
              const $last = argNames.has("last") ? fieldArgs.getRaw("last") : constant(null);
              const $first = lambda(
                [fieldArgs.getRaw("first"), $last],
                ([first, last]) => (first ?? (last == null ? pageSize : null)) as number | null,
                true,
              );
              $connection.setFirst($first);
              return $connection;
            },
          } as typeof field;
        },
        GraphQLObjectType_fields_field_args(args, _build, { scope }) {
          if (!isConnection(scope) || !args.first) return args;
          // The plan above sets `first`; the argument's own applyPlan would set it a second time.
          return { ...args, first: { ...args.first, applyPlan: undefined } };
        },
      },
    },
  };
}

/** What a document asks for in `first`/`last`: its largest literal, and the variables it passes. */
interface PageArguments {
  literal: number;
  /** Each variable given to `first` or `last`, with its default when that is an integer literal. */
  variables: { name: string; default: number | undefined }[];
}

/** Documents already read, by their text: a client sends the same few operations over and over. */
const pageArgumentsByDocument = new LRU<string, PageArguments>({ maxLength: 500 });
/** Longer documents are read every time, so the cache holds at most 500 × 10,000 characters. */
const CACHED_DOCUMENT_CHARS = 10_000;

/** @throws GraphQLError when the text does not parse. */
function pageArguments(query: string): PageArguments {
  const cached = pageArgumentsByDocument.get(query);
  if (cached) return cached;
  const document = parse(query);
  const defaults = new Map<string, number>();
  visit(document, {
    VariableDefinition(node) {
      if (node.defaultValue?.kind === Kind.INT) defaults.set(node.variable.name.value, Number(node.defaultValue.value));
    },
  });
  const found: PageArguments = { literal: 0, variables: [] };
  visit(document, {
    Argument(node) {
      if (node.name.value !== "first" && node.name.value !== "last") return;
      if (node.value.kind === Kind.INT) found.literal = Math.max(found.literal, Number(node.value.value));
      else if (node.value.kind === Kind.VARIABLE)
        found.variables.push({ name: node.value.name.value, default: defaults.get(node.value.name.value) });
    },
  });
  if (query.length <= CACHED_DOCUMENT_CHARS) pageArgumentsByDocument.set(query, found);
  return found;
}

/**
 * The largest `first`/`last` a request asks for, literal or through a variable (validation rules
 * cannot see variable values, so this runs on the request body). A variable left out takes its
 * default: `($n: Int = 100000)` must not slip through.
 */
function largestPage(query: string, variables: Record<string, unknown>): number {
  const { literal, variables: passed } = pageArguments(query);
  let largest = literal;
  for (const variable of passed) {
    // Own properties only, as graphql-js reads them: `$constructor` must not find Object's.
    const value = (Object.hasOwn(variables, variable.name) ? variables[variable.name] : undefined) ?? variable.default;
    if (typeof value === "number") largest = Math.max(largest, value);
  }
  return largest;
}

/**
 * The Express side, before grafserv: parses JSON bodies up to the size limit and refuses batches
 * (one operation per request). Malformed documents pass through, for grafserv to answer as usual.
 */
export function graphqlRequestGuard(limits: GraphqlLimits) {
  return [
    express.json({ limit: limits.maxBodyBytes }),
    (req: Request, res: Response, next: NextFunction) => {
      if (Array.isArray(req.body)) {
        res.status(400).json(limitError("Send one operation per request; batches are not accepted."));
        return;
      }
      next();
    },
    (error: unknown, _req: Request, res: Response, next: NextFunction) => {
      const status = (error as { status?: unknown }).status;
      if (status === 413) res.status(413).json(limitError(`The request body is over ${limits.maxBodyBytes} bytes.`));
      else if (typeof status === "number" && status >= 400 && status < 500)
        res.status(400).json({ errors: [{ message: "The body is not valid JSON.", extensions: { code: "INVAL" } }] });
      else next(error);
    },
  ];
}
