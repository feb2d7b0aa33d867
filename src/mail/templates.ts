/**
 * The e-mails the worker sends, each as plain text and HTML from the same paragraphs. Wording is
 * plain and addressed to clinic staff; none of these takes patient data, so none can leak it
 * (patients' own e-mails are in ./appointment-notices.ts).
 */
import escapeHtml from "escape-html";

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export const PRODUCT = "Clinic Platform";

/** A link shown as a button in HTML and as a bare URL in text. */
export interface Action {
  label: string;
  url: string;
}

/** Who signs an e-mail, and a last small line under the signature (e.g. an unsubscribe link). */
export interface Signature {
  name: string;
  footer?: { text: string; link: Action };
}

/** An e-mail of paragraphs, as text and as HTML with every value escaped. */
export function render(
  subject: string,
  greeting: string,
  paragraphs: string[],
  action?: Action,
  signature: Signature = { name: PRODUCT },
): RenderedEmail {
  const { footer } = signature;
  const text = [
    greeting,
    ...paragraphs,
    ...(action ? [`${action.label}: ${action.url}`] : []),
    `— ${signature.name}`,
    ...(footer ? [`${footer.text} ${footer.link.label}: ${footer.link.url}`] : []),
  ].join("\n\n");
  const html = [
    `<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">`,
    `<p>${escapeHtml(greeting)}</p>`,
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    action ? `<p><a href="${escapeHtml(action.url)}">${escapeHtml(action.label)}</a></p>` : "",
    `<p>— ${escapeHtml(signature.name)}</p>`,
    footer
      ? `<p style="font-size: smaller">${escapeHtml(footer.text)} <a href="${escapeHtml(footer.link.url)}">${escapeHtml(footer.link.label)}</a></p>`
      : "",
    `</body></html>`,
  ].join("\n");
  return { subject, text: `${text}\n`, html };
}

/** A moment as the clinic reads it, e.g. "14 December 2026, 09:30 GMT-5", in its IANA time zone. */
export function localTime(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    day: "numeric",
    month: "long",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone,
    timeZoneName: "short",
  }).format(at);
}

/** To the admin who signed a clinic group up. */
export function welcomeEmail(f: {
  fullName: string;
  tenantName: string;
  trialEndsAt: Date | null;
  timeZone: string;
  appUrl: string;
}) {
  return render(
    `Welcome to ${PRODUCT}, ${f.tenantName}`,
    `Hello ${f.fullName},`,
    [
      `${f.tenantName} is ready. You are its administrator: add your doctors and staff, their offices, and start booking appointments.`,
      ...(f.trialEndsAt ? [`Your free trial runs until ${localTime(f.trialEndsAt, f.timeZone)}.`] : []),
    ],
    { label: "Sign in", url: f.appUrl },
  );
}

/**
 * To a user an admin created. `access` says how they get in: `{setPasswordUrl}` (no password yet)
 * carries the one-time link, valid 72 hours; `"handed-over"` (no password yet, but the admin
 * already gave them a live link, which this e-mail must not replace) points to that link;
 * `"password"`: the account is already active.
 */
export function accountEmail(f: {
  fullName: string;
  tenantName: string;
  userRole: string;
  appUrl: string;
  access: { setPasswordUrl: string } | "handed-over" | "password";
}) {
  const intro = `An administrator of ${f.tenantName} created a ${PRODUCT} account for you, as ${f.userRole}.`;
  if (typeof f.access === "object") {
    return render(
      `Your ${f.tenantName} account: set your password`,
      `Hello ${f.fullName},`,
      [
        intro,
        "Choose your password with the link below. It works once and expires in 72 hours; ask your administrator for a new one if it has.",
      ],
      { label: "Set your password", url: f.access.setPasswordUrl },
    );
  }
  return render(
    `Your ${f.tenantName} account`,
    `Hello ${f.fullName},`,
    [
      intro,
      f.access === "handed-over"
        ? "Your administrator has given you a link to set your password: use that one, or ask them for a new one if it has expired. Then sign in with this e-mail address."
        : "Your account is active: sign in with this e-mail address.",
    ],
    { label: "Sign in", url: f.appUrl },
  );
}

/** To a tenant's admins, `daysBefore` local days before the trial's last day (0: that day). */
export function trialNoticeEmail(f: {
  fullName: string;
  tenantName: string;
  trialEndsAt: Date;
  timeZone: string;
  daysBefore: number;
  appUrl: string;
}) {
  const when = localTime(f.trialEndsAt, f.timeZone);
  const subject =
    f.daysBefore === 0
      ? `Your ${PRODUCT} trial ends today`
      : `Your ${PRODUCT} trial ends in ${f.daysBefore} day${f.daysBefore === 1 ? "" : "s"}`;
  return render(
    subject,
    `Hello ${f.fullName},`,
    [
      `The free trial of ${f.tenantName} ends on ${when}.`,
      "From then on, everyone in your clinic group can still sign in and read all records, but nobody can add or change anything until you choose a plan. No data is deleted.",
      "To keep working without interruption, choose a plan before the trial ends.",
    ],
    { label: "Sign in", url: f.appUrl },
  );
}
