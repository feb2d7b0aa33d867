/**
 * What the benchmarks share: a timed JSON POST and percentiles. Timings belong in benchmarks, not
 * in tests, so these helpers measure and never assert.
 */
import { performance } from "node:perf_hooks";

/** An answer's JSON, loosely typed: benchmarks read a few known fields. */
export type Answer = {
  token?: string;
  data?: Record<string, unknown>;
  error?: { code?: string };
  errors?: { message?: string; extensions?: { code?: string } }[];
};

/** POSTs `body` as JSON to `base + path`; returns the status, raw text, parsed JSON and milliseconds. */
export async function post(base: string, path: string, body: unknown, token?: string, timeoutMs = 30_000) {
  const started = performance.now();
  const response = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json: Answer = {};
  try {
    json = JSON.parse(text) as Answer;
  } catch {
    // Not JSON: the caller sees the status and the text.
  }
  return { ms: performance.now() - started, status: response.status, text, json };
}

/** The `p` quantile (0..1) of `values`, by the nearest-rank method; NaN when there are none. */
export const percentile = (values: number[], p: number) =>
  values.length ? [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))] : NaN;
