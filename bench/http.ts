/**
 * What the benchmarks share: a timed JSON POST and percentiles. Timings belong in benchmarks, not
 * in tests, so these helpers measure and never assert.
 */
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";

/** An answer's JSON, loosely typed: benchmarks read a few known fields. */
export type Answer = {
  token?: string;
  data?: Record<string, unknown>;
  error?: { code?: string };
  errors?: { message?: string; extensions?: { code?: string } }[];
};

/** Keep-alive connections, as a browser or a front end's server holds them. */
const agent = new Agent({ keepAlive: true });

/**
 * POSTs `body` as JSON to `base + path` over a kept-alive connection (node:http: in a profile,
 * fetch's own work took about a seventh of this process's CPU, which counts against the server it
 * shares the cores with); returns the status, raw text, parsed JSON and milliseconds.
 */
export async function post(base: string, path: string, body: unknown, token?: string, timeoutMs = 30_000) {
  const started = performance.now();
  const payload = JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      new URL(path, base),
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
  let json: Answer = {};
  try {
    json = JSON.parse(text) as Answer;
  } catch {
    // Not JSON: the caller sees the status and the text.
  }
  return { ms: performance.now() - started, status, text, json };
}

/** The `p` quantile (0..1) of `values`, by the nearest-rank method; NaN when there are none. */
export const percentile = (values: number[], p: number) =>
  values.length ? [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))] : NaN;
