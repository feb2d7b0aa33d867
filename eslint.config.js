// ESLint flat config: typescript-eslint's recommended rules on our TypeScript.
const js = require("@eslint/js");
const tseslint = require("typescript-eslint");

module.exports = tseslint.config(
  // client/generated/ is graphql-codegen output (checked by tsc and test/client-operations.test.ts, not by style rules).
  { ignores: ["node_modules/", "dist/", ".data/", "scratch/", ".research/", "coverage/", "client/generated/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Express tells error handlers by their four parameters, used or not; `{ left: _out, ...kept }` drops a field.
  { rules: { "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", ignoreRestSiblings: true }] } },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { module: "writable", require: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  // The pages' plain browser scripts (src/pages.ts serves them).
  {
    files: ["web/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: {
        document: "readonly",
        fetch: "readonly",
        location: "readonly",
        history: "readonly",
        URLSearchParams: "readonly",
      },
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
