/**
 * The date and time casts of src/immutable-casts.ts: IMMUTABLE (PostgreSQL accepts them in an
 * index expression, as Citus needs them in RETURNING) and, once formatted, the same strings as
 * PostGraphile's own `to_char` casts, at UTC, whatever the session's time zone.
 */
import { TYPES } from "postgraphile/@dataplan/pg";
import { sql } from "postgraphile/pg-sql2";
import "../src/immutable-casts";
import { asOwner } from "./helpers";

const CASES = {
  timestamptz: {
    format: 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"',
    atUtc: true,
    values: [
      "2026-12-06 10:30:00+00",
      "2026-03-29 01:59:59.999999+01",
      "1969-12-31 23:59:59.5+00",
      "1900-02-28 12:00:00.000001-05",
      "2024-02-29 00:00:00+14",
      "0001-01-01 00:00:00+00",
      "12345-06-07 08:09:10.5+00",
    ],
  },
  timestamp: {
    format: 'YYYY-MM-DD"T"HH24:MI:SS.US',
    atUtc: false,
    values: ["2026-12-06 10:30:00", "1969-12-31 23:59:59.999999", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"],
  },
  date: {
    format: "YYYY-MM-DD",
    atUtc: false,
    values: [
      "2026-12-06",
      "1970-01-01",
      "1969-12-31",
      "2000-02-29",
      "1601-03-01",
      "1900-03-01",
      "0001-01-01",
      "10000-01-01",
      "275760-09-13",
    ],
  },
  time: { format: "HH24:MI:SS.US", atUtc: false, values: ["00:00:00", "09:30:00.000001", "23:59:59.999999"] },
} as const;

describe("date and time casts Citus accepts in RETURNING", () => {
  test.each(Object.entries(CASES))(
    "%s: IMMUTABLE, and formatted as PostGraphile's to_char",
    async (type, { format, atUtc, values }) => {
      const codec = TYPES[type as keyof typeof CASES];
      const cast = sql.compile(codec.castFromPg!(sql.identifier("v"))).text;
      await asOwner(async (client) => {
        await client.query("begin");
        try {
          // A zone with an offset: the output must not depend on it.
          await client.query("set local time zone 'America/New_York'");
          await client.query(`create temporary table casts (v ${type}) on commit drop`);
          // PostgreSQL refuses a function that is not IMMUTABLE in an index expression.
          await expect(client.query(`create index on casts ((${cast}))`)).resolves.toBeDefined();
          const expected = atUtc
            ? `to_char(timezone('UTC', v), $2)`
            : type === "time"
              ? `to_char(date '1970-01-01' + v, $2)`
              : `to_char(v, $2)`;
          for (const value of values) {
            const { rows } = await client.query(
              `select ${cast} as cast, ${expected} as expected from (select $1::${type} as v) s`,
              [value, format],
            );
            expect([value, codec.fromPg(rows[0].cast)]).toEqual([value, rows[0].expected]);
          }
        } finally {
          await client.query("rollback");
        }
      });
    },
  );

  test("24:00, which to_char wrote as 00:00, stays the end of the day", () => {
    expect(TYPES.time.fromPg("86400.000000")).toBe("24:00:00.000000");
  });

  test("infinity reads as PostgreSQL writes it; other text passes unchanged", () => {
    expect(TYPES.timestamptz.fromPg("Infinity")).toBe("infinity");
    expect(TYPES.date.fromPg("-Infinity")).toBe("-infinity");
    expect(TYPES.date.fromPg("2026-12-06")).toBe("2026-12-06");
  });
});
