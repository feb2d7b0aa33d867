/**
 * PostGraphile reads dates and times through `to_char(…)`, a STABLE function. Citus refuses any
 * non-IMMUTABLE function in the RETURNING clause of an INSERT, UPDATE or DELETE ("non-IMMUTABLE
 * functions are not allowed in the RETURNING clause"), so every mutation returning a timestamp
 * failed on a cluster. Here the codecs of `timestamptz`, `timestamp`, `date` and `time` read the
 * value as seconds since the epoch (`extract(epoch from …)`, IMMUTABLE for these types once a
 * `timestamptz` is taken at UTC) and format it in TypeScript into the very strings PostGraphile
 * gives: `2026-12-06T09:30:00.000000+00:00`, `2026-12-06`, `09:30:00.000000`. Timestamps with a
 * time zone are always written in UTC, whatever the server's TimeZone setting. Arrays of these
 * types keep PostGraphile's casts: no column or result of the API is one.
 *
 * The codec objects are changed in place, not replaced: the connection-filter and aggregate
 * plugins recognise these types by identity, and the schema must not change.
 */
import type { PgCodec } from "postgraphile/@dataplan/pg";
import { TYPES } from "postgraphile/@dataplan/pg";
import { sql, type SQL } from "postgraphile/pg-sql2";

const MICROSECONDS_PER_SECOND = 1_000_000n;
const MICROSECONDS_PER_DAY = 86_400n * MICROSECONDS_PER_SECOND;

/** `"1796551200.5"` → 1796551200500000n; null for anything that is not a plain number. */
function microseconds(epoch: string): bigint | null {
  const match = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(epoch);
  if (!match) return null;
  const [, sign, whole, fraction = ""] = match;
  const value = BigInt(whole) * MICROSECONDS_PER_SECOND + BigInt(fraction.padEnd(6, "0"));
  return sign ? -value : value;
}

const pad = (value: bigint, width: number) => value.toString().padStart(width, "0");

/**
 * Days since 1970-01-01 → `YYYY-MM-DD` in the proleptic Gregorian calendar, for any year
 * PostgreSQL stores after 1 BC (JavaScript's Date would write `+010000` or throw). The
 * civil-from-days algorithm of H. Hinnant (https://howardhinnant.github.io/date_algorithms.html).
 */
function civilDate(days: bigint): string {
  const z = days + 719_468n;
  const era = (z >= 0n ? z : z - 146_096n) / 146_097n;
  const dayOfEra = z - era * 146_097n;
  const yearOfEra = (dayOfEra - dayOfEra / 1_460n + dayOfEra / 36_524n - dayOfEra / 146_096n) / 365n;
  const dayOfYear = dayOfEra - (365n * yearOfEra + yearOfEra / 4n - yearOfEra / 100n);
  const shiftedMonth = (5n * dayOfYear + 2n) / 153n; // March = 0
  const day = dayOfYear - (153n * shiftedMonth + 2n) / 5n + 1n;
  const month = shiftedMonth < 10n ? shiftedMonth + 3n : shiftedMonth - 9n;
  const year = yearOfEra + era * 400n + (month <= 2n ? 1n : 0n);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** Microseconds since 1970-01-01 00:00 (UTC) → `YYYY-MM-DD` and `HH:MM:SS.ffffff`. */
function dateAndTime(micros: bigint): [string, string] {
  const days = micros >= 0n ? micros / MICROSECONDS_PER_DAY : -((-micros + MICROSECONDS_PER_DAY - 1n) / MICROSECONDS_PER_DAY);
  return [civilDate(days), timeOfDay(micros - days * MICROSECONDS_PER_DAY)];
}

/** Microseconds since midnight (0 to 24 h inclusive, as `time` allows) → `HH:MM:SS.ffffff`. */
function timeOfDay(micros: bigint): string {
  const seconds = micros / MICROSECONDS_PER_SECOND;
  return `${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(micros % MICROSECONDS_PER_SECOND, 6)}`;
}

/**
 * Gives `codec` the cast `castFromPg` and turns the epoch seconds it selects into `format(µs)`.
 * Infinite values read `infinity` / `-infinity`, as PostgreSQL writes them; any other text (from a
 * path that selected the value without this cast) passes unchanged.
 */
function readAsEpoch(codec: PgCodec, castFromPg: (frag: SQL) => SQL, format: (micros: bigint) => string): void {
  codec.castFromPg = castFromPg;
  codec.fromPg = (value: string) => {
    const micros = microseconds(value);
    if (micros !== null) return format(micros);
    return /^-?Infinity$/.test(value) ? value.toLowerCase() : value;
  };
}

readAsEpoch(
  TYPES.timestamptz,
  (frag) => sql`extract(epoch from timezone('UTC', ${sql.parens(frag)}))::text`,
  (micros) => dateAndTime(micros).join("T") + "+00:00",
);
readAsEpoch(
  TYPES.timestamp,
  (frag) => sql`extract(epoch from ${sql.parens(frag)})::text`,
  (micros) => dateAndTime(micros).join("T"),
);
readAsEpoch(
  TYPES.date,
  (frag) => sql`extract(epoch from ${sql.parens(frag)})::text`,
  (micros) => dateAndTime(micros)[0],
);
readAsEpoch(TYPES.time, (frag) => sql`extract(epoch from ${sql.parens(frag)})::text`, timeOfDay);
