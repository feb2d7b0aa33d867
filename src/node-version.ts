/**
 * Refuses to start on a Node.js older than the stack needs, with one clear line instead of a
 * failure deep inside a request: PostGraphile 5 (grafast) uses `Promise.withResolvers`, which
 * Node 22 brought; on Node 20 every list query fails. Imported first by every entry point, so it
 * runs before anything else is loaded.
 */
const REQUIRED_MAJOR = 22;

const major = Number(process.versions.node.split(".")[0]);
if (major < REQUIRED_MAJOR) {
  console.error(
    `Node ${process.version} is too old: the clinic platform needs Node ${REQUIRED_MAJOR} or newer (PostGraphile 5). ` +
      "Run it through npm (npm start, npm run serve), which uses the project's own Node 24, or install Node 24.",
  );
  process.exit(1);
}
