/**
 * The e-mails to patients about their appointments: confirmation, reminder, change and
 * cancellation, each with an iCalendar (RFC 5545) file whose UID is the appointment's, so a
 * calendar that took the confirmation updates or removes the same entry; and the waitlist's offer
 * of a freed slot. They say only what the patient needs (the minimum necessary): the clinic
 * group, the time in its zone with the zone's name, the office's name and address. Never the
 * reason, notes or anything clinical. Each carries the patient's unsubscribe link.
 */
import ical, { ICalCalendarMethod, ICalEventStatus } from "ical-generator";
import type { Attachment } from "./mailer";
import { render, type Action, type RenderedEmail } from "./templates";

/** `confirmation` of a single visit or, with several visits, of a series. */
export type NoticeKind = "confirmation" | "change" | "cancellation" | "reminder";

/** One visit as app_private.appointment_notice_email returns it. */
export interface NoticeVisit {
  appointmentId: string;
  /** The appointment's revision: the calendar entry's SEQUENCE. */
  sequence: number;
  startsAt: Date;
  endsAt: Date;
  officeName: string | null;
  officeAddress: string | null;
}

export interface AppointmentNotice {
  kind: NoticeKind;
  patientName: string;
  /** The patient's address, the calendar entry's attendee. */
  to: string;
  tenantName: string;
  /** The tenant's IANA time zone: every time is written in it, with its name. */
  timeZone: string;
  /** One, or a series' upcoming occurrences in order. */
  visits: NoticeVisit[];
  /** The From address: the calendar entry's organizer, and the domain of its UID. */
  from: string;
  /** The one-time link that turns the patient's appointment e-mails off. */
  unsubscribeUrl: string;
}

/** A visit's time as the clinic reads it, e.g. "Monday, 14 December 2026, 09:30–10:00 CET (Europe/Madrid)". */
export function visitTime(startsAt: Date, endsAt: Date, timeZone: string): string {
  const day = new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone });
  const clock = (at: Date, zoneName = false) =>
    new Intl.DateTimeFormat("en-GB", {
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZone,
      ...(zoneName ? { timeZoneName: "short" } : {}),
    }).format(at);
  return `${day.format(startsAt)}, ${clock(startsAt)}–${clock(endsAt, true)} (${timeZone})`;
}

/** The local day of a subject line, e.g. "12 January". */
const dayOf = (at: Date, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", timeZone }).format(at);

type Office = Pick<NoticeVisit, "officeName" | "officeAddress">;

const place = (v: Office) => [v.officeName, v.officeAddress].filter(Boolean).join(", ");

/** "…, at North Office, 10 Main Street" or nothing when the office is not decided. */
const where = (v: Office) => (place(v) ? `, at ${place(v)}` : "");

/** The mail domain of an RFC 5322 From, e.g. `clinic.test` of `Clinic <no-reply@clinic.test>`. */
const addressOf = (from: string) => /<([^>]+)>\s*$/.exec(from)?.[1] ?? from.trim();

/** The calendar file: REQUEST (one visit, SEQUENCE counting up), PUBLISH (a series' visits), or CANCEL. */
export function calendarFile(n: AppointmentNotice): Attachment {
  const method =
    n.kind === "cancellation"
      ? ICalCalendarMethod.CANCEL
      : n.visits.length > 1
        ? ICalCalendarMethod.PUBLISH
        : ICalCalendarMethod.REQUEST;
  const organizer = addressOf(n.from);
  const domain = organizer.split("@")[1] ?? "localhost";
  const calendar = ical({ prodId: { company: "Clinic Platform", product: "Appointments", language: "EN" }, method });
  for (const v of n.visits) {
    calendar.createEvent({
      id: `appointment-${v.appointmentId}@${domain}`,
      sequence: v.sequence,
      start: v.startsAt,
      end: v.endsAt,
      summary: `Appointment at ${n.tenantName}`,
      location: place(v) || null,
      status: n.kind === "cancellation" ? ICalEventStatus.CANCELLED : ICalEventStatus.CONFIRMED,
      organizer: { name: n.tenantName, email: organizer },
      // iTIP (RFC 5546): PUBLISH carries no attendees; REQUEST and CANCEL name the patient.
      attendees: method === ICalCalendarMethod.PUBLISH ? [] : [{ name: n.patientName, email: n.to, rsvp: false }],
    });
  }
  return {
    filename: n.kind === "cancellation" ? "cancellation.ics" : "appointment.ics",
    content: calendar.toString(),
    contentType: `text/calendar; charset=utf-8; method=${method}`,
  };
}

function wording(n: AppointmentNotice): { subject: string; paragraphs: string[] } {
  const [first] = n.visits;
  const when = (v: NoticeVisit) => visitTime(v.startsAt, v.endsAt, n.timeZone);
  const date = dayOf(first.startsAt, n.timeZone);
  switch (n.kind) {
    case "confirmation":
      if (n.visits.length > 1) {
        return {
          subject: `Your ${n.visits.length} appointments at ${n.tenantName}`,
          paragraphs: [
            `Your appointments at ${n.tenantName} are booked:`,
            ...n.visits.map((v) => `• ${when(v)}${where(v)}`),
            "The attached calendar file adds them to your calendar.",
          ],
        };
      }
      return {
        subject: `Your appointment at ${n.tenantName} on ${date}`,
        paragraphs: [
          `Your appointment at ${n.tenantName} is booked for ${when(first)}${where(first)}.`,
          "The attached calendar file adds it to your calendar.",
        ],
      };
    case "reminder":
      return {
        subject: `Reminder: your appointment at ${n.tenantName} on ${date}`,
        paragraphs: [`This is a reminder of your appointment at ${n.tenantName} on ${when(first)}${where(first)}.`],
      };
    case "change":
      return {
        subject: `Your appointment at ${n.tenantName} has changed`,
        paragraphs: [
          `Your appointment at ${n.tenantName} has changed. It is now on ${when(first)}${where(first)}.`,
          "The attached calendar file updates the entry in your calendar.",
        ],
      };
    case "cancellation":
      return {
        subject: `Your appointment at ${n.tenantName} on ${date} is cancelled`,
        paragraphs: [
          `Your appointment at ${n.tenantName} on ${when(first)}${where(first)} is cancelled.`,
          "The attached calendar file removes it from your calendar. Contact the clinic to book another time.",
        ],
      };
  }
}

/** The signature and unsubscribe footer of every patient e-mail, and the RFC 8058 one-click headers. */
function patientEmail(
  subject: string,
  patientName: string,
  tenantName: string,
  paragraphs: string[],
  unsubscribeUrl: string,
  action?: Action,
): RenderedEmail & { headers: Record<string, string> } {
  const email = render(subject, `Hello ${patientName},`, paragraphs, action, {
    name: tenantName,
    footer: {
      text: `You receive this as a patient of ${tenantName}.`,
      link: { label: "Stop appointment e-mails", url: unsubscribeUrl },
    },
  });
  return {
    ...email,
    headers: { "List-Unsubscribe": `<${unsubscribeUrl}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
  };
}

/** A confirmation, change or cancellation with its calendar file; a reminder (the entry is in the calendar already) without. */
export function appointmentNoticeEmail(
  n: AppointmentNotice,
): RenderedEmail & { attachments: Attachment[]; headers: Record<string, string> } {
  const { subject, paragraphs } = wording(n);
  return {
    ...patientEmail(subject, n.patientName, n.tenantName, paragraphs, n.unsubscribeUrl),
    attachments: n.kind === "reminder" ? [] : [calendarFile(n)],
  };
}

/** A freed slot offered to a waiting patient: held until `expiresAt`, answered once on `answerUrl`. */
export function waitlistOfferEmail(
  f: Office & {
    patientName: string;
    tenantName: string;
    timeZone: string;
    startsAt: Date;
    endsAt: Date;
    expiresAt: Date;
    answerUrl: string;
    unsubscribeUrl: string;
  },
) {
  const date = dayOf(f.startsAt, f.timeZone);
  const until = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: f.timeZone,
    timeZoneName: "short",
  }).format(f.expiresAt);
  return patientEmail(
    `A time has become free at ${f.tenantName} on ${date}`,
    f.patientName,
    f.tenantName,
    [
      `You are on the waiting list of ${f.tenantName}, and this time has become free: ${visitTime(f.startsAt, f.endsAt, f.timeZone)}${where(f)}.`,
      `It is held for you until ${until}. Book it, or let the next patient have it, with the link below; it works once.`,
    ],
    f.unsubscribeUrl,
    { label: "Book or decline this time", url: f.answerUrl },
  );
}
