/**
 * Every GraphQL error carries `extensions.code`, so a client can switch on codes alone: syntax
 * and validation errors get `INVAL` (a limit rule has already marked its own `LIMIT`). And, where
 * introspection is off, "Did you mean …?" suggestions are removed with graphql-armor's
 * block-field-suggestions: they would rebuild, a guess at a time, the schema introspection hides.
 * Request errors found while executing (a variable's value) get both in `makeMaskError`
 * (src/graphile.config.ts).
 */
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { GraphQLError } from "postgraphile/graphql";

/** Copies a parse or validation error with `code` set (when it had none), without changing the cached original. */
export function withCode(error: GraphQLError, code = "INVAL"): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code },
  });
}

type OnValidateEnd = (end: { valid: boolean; result: readonly GraphQLError[]; setResult(errors: GraphQLError[]): void }) => void;

/** Suggestion wordings graphql-armor's pattern misses: enum values ("Did you mean the enum value …?") and unquoted lists. */
const OTHER_SUGGESTIONS = /\s*Did you mean [^?]*\?/g;

/**
 * The errors without "Did you mean …?": graphql-armor's plugin, run as envelop runs it after a
 * failed validation, then the wordings it misses. Works on copies (`withCode` makes them).
 */
export function withoutSuggestions(errors: GraphQLError[]): GraphQLError[] {
  const onValidate = blockFieldSuggestionsPlugin({ mask: "" }).onValidate as unknown as (start: object) => OnValidateEnd;
  let result = errors;
  onValidate({})({ valid: false, result: errors, setResult: (masked) => (result = masked) });
  for (const error of result) error.message = error.message.replace(OTHER_SUGGESTIONS, "").trim();
  return result;
}

type ParseAndValidate = (query: string) => { errors?: readonly GraphQLError[]; document?: unknown };

/**
 * The grafserv plugin: wraps grafserv's (cached) parse-and-validate step so the errors it returns
 * carry codes and, with `hideSuggestions`, no suggestions.
 */
export function graphqlErrorCodesPlugin({ hideSuggestions }: { hideSuggestions: boolean }): GraphileConfig.Plugin {
  const wrapped = new WeakMap<ParseAndValidate, ParseAndValidate>();
  const wrap = (parseAndValidate: ParseAndValidate): ParseAndValidate => {
    let coded = wrapped.get(parseAndValidate);
    if (!coded) {
      coded = (query) => {
        const result = parseAndValidate(query);
        if (!result.errors) return result;
        const errors = result.errors.map((error) => withCode(error));
        return { errors: hideSuggestions ? withoutSuggestions(errors) : errors };
      };
      wrapped.set(parseAndValidate, coded);
    }
    return coded;
  };
  return {
    name: "GraphqlErrorCodesPlugin",
    version: "0.0.0",
    grafserv: {
      middleware: {
        setPreset(next, event) {
          const getExecutionConfig = event.getExecutionConfig;
          event.getExecutionConfig = async function (context) {
            const config = await getExecutionConfig.call(this, context);
            return { ...config, parseAndValidate: wrap(config.parseAndValidate) as typeof config.parseAndValidate };
          };
          return next();
        },
      },
    },
  };
}
