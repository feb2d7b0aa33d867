/**
 * Local clocks of a time zone, read with the platform's own zone data (Intl), so the scheduling
 * tests can name "the next spring-forward night in New York" and check what a clock shows,
 * independently of PostgreSQL's reading of the same zone.
 */

/** A local date (YYYY-MM-DD) and clock (HH:MM) of an instant in a zone. */
export function local(instant: Date, zone: string): { date: string; clock: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(instant)
      .map((part) => [part.type, part.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, clock: `${parts.hour}:${parts.minute}` };
}

/** The zone's UTC offset in minutes at an instant. */
function offsetMinutes(instant: Date, zone: string): number {
  const { date, clock } = local(instant, zone);
  return (Date.parse(`${date}T${clock}:00Z`) - Math.floor(instant.getTime() / 60_000) * 60_000) / 60_000;
}

/** The local date, 2 to 400 days ahead, of the zone's next clock change forward (or back). */
export function nextTransition(zone: string, forward: boolean): string {
  const hour = 3_600_000;
  const start = Math.floor(Date.now() / hour) * hour + 48 * hour;
  for (let t = start; t < start + 400 * 24 * hour; t += hour) {
    const change = offsetMinutes(new Date(t + hour), zone) - offsetMinutes(new Date(t), zone);
    if (change !== 0 && change > 0 === forward) return local(new Date(t + hour), zone).date;
  }
  throw new Error(`no ${forward ? "spring-forward" : "fall-back"} night in ${zone} within 400 days`);
}

export const isoWeekday = (date: string) => ((new Date(`${date}T12:00:00Z`).getUTCDay() + 6) % 7) + 1;
