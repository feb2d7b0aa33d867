/**
 * The README's first session, pasted as written: its ```sh blocks, read from README.md at test
 * time, run in bash against a test server, twice (a rerun must not meet TAKEN). Its operations
 * must be the committed ones in client/operations/, which the typed client is generated from.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parse, print } from "postgraphile/graphql";
import jwt from "jsonwebtoken";
import { asOwner, tokenSettings, useServer } from "./helpers";

const root = path.resolve(__dirname, "..");

/** The text of README.md's "## A first session", up to the next heading. */
function firstSession(): string {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const section = /^## A first session\n([\s\S]*?)^#{1,3} /m.exec(readme);
  if (!section) throw new Error('README.md has no "## A first session" section');
  return section[1];
}

/** The section's ```sh blocks, in order. */
const shellBlocks = (section: string) => [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]);

/** The GraphQL operations written inline in the blocks: each is a single-quoted argument of `gql`. */
const inlineOperations = (script: string) =>
  [...script.matchAll(/gql '\n((?:query|mutation) [^']*)'/g)].map((match) => parse(match[1]));

const server = useServer();

interface SessionOutcome {
  stdout: string;
  token: string;
  doctorId: string;
  patientId: string;
  appointmentId: string;
}

/**
 * Runs the README's blocks as one bash script (`-euo pipefail`: any failing step fails the run)
 * with the project's node first on PATH and API pointing at the test server; afterwards prints
 * the ids the session kept in its shell variables. `--norc`: node's stdio pipes are sockets, which
 * bash takes for a remote shell's and would read bashrc for.
 */
async function pasteFirstSession(): Promise<SessionOutcome> {
  const script = `${shellBlocks(firstSession()).join("\n")}\necho "::ids $TOKEN $DOCTOR_ID $PATIENT_ID $APPOINTMENT_ID"\n`;
  const { stdout } = await promisify(execFile)("bash", ["--norc", "-euo", "pipefail", "-c", script], {
    cwd: root,
    env: {
      PATH: `${path.join(root, "node_modules/.bin")}${path.delimiter}${process.env.PATH}`,
      HOME: process.env.HOME,
      API: server.url,
    },
  });
  const [token, doctorId, patientId, appointmentId] = /^::ids (.*)$/m.exec(stdout)![1].split(" ");
  return { stdout, token, doctorId, patientId, appointmentId };
}

/** The JSON objects the session printed (`json` prints them indented, braces at column 0). */
const printedObjects = (stdout: string) => [...stdout.matchAll(/^\{\n[\s\S]*?\n\}$/gm)].map((match) => JSON.parse(match[0]));

describe("the README's first session", () => {
  test("its operations are the committed ones in client/operations/", () => {
    const inline = inlineOperations(shellBlocks(firstSession()).join("\n"));
    expect(inline.map((document) => (document.definitions[0] as { name: { value: string } }).name.value)).toEqual([
      "CurrentSession",
      "AddDoctor",
      "SetWorkingHours",
      "FreeSlots",
      "CreatePatient",
      "BookAppointment",
      "CreateWeeklySeries",
      "ChangeSeries",
      "WeekSchedule",
      "CancelAppointment",
    ]);
    for (const document of inline) {
      const name = (document.definitions[0] as { name: { value: string } }).name.value;
      const committed = readFileSync(path.join(root, "client/operations", `${name}.graphql`), "utf8");
      expect(print(document)).toBe(print(parse(committed)));
    }
  });

  test("pasted twice, it signs up two clinics, each with a doctor, a patient and a cancelled appointment tomorrow at 09:00 Madrid time", async () => {
    const tenants: string[] = [];
    for (const run of [1, 2]) {
      const outcome = await pasteFirstSession();

      // The token is ours, for the new clinic's admin.
      const claims = jwt.verify(outcome.token, tokenSettings.secret) as jwt.JwtPayload;
      expect(claims).toMatchObject({ user_role: "admin", tenant_id: expect.any(String), sub: expect.any(String) });
      tenants.push(claims.tenant_id);

      // What it printed: who is signed in, then the week's schedule (before the cancellation), then the cancellation.
      const [session, schedule] = printedObjects(outcome.stdout);
      expect(session).toMatchObject({
        currentUser: {
          rowId: claims.sub,
          fullName: "Sam Admin",
          email: expect.stringMatching(/^sam\.\d+@sunrise\.test$/),
          userRole: "admin",
        },
        currentTenant: { name: "Sunrise Clinics", timeZone: "Europe/Madrid", subscriptionPlan: "trial", isReadOnly: false },
      });
      expect(schedule).toEqual({
        totalCount: 1,
        nodes: [
          {
            rowId: outcome.appointmentId,
            startsAt: expect.any(String),
            officeId: "main",
            status: "booked",
            doctor: { fullName: "Dr Ana Ruiz" },
            patient: { fullName: "Lucia Fernandez" },
          },
        ],
        // BigInt aggregates come back as strings.
        aggregates: { distinctCount: { patientId: "1" } },
        groupedAggregates: [{ keys: [outcome.doctorId], distinctCount: { rowId: "1" } }],
      });
      expect(outcome.stdout).toMatch(/\ncancelled\n::ids /);

      // What is stored, read as the owner, in run `run`'s clinic.
      const stored = await asOwner(async (client) => {
        const {
          rows: [row],
        } = await client.query(
          `select t.time_zone,
                  jsonb_array_length(d.offices) as offices,
                  (select u.user_role from app_public.users u where u.id = d.user_id) as doctor_role,
                  p.full_name as patient,
                  a.status, a.office_id, a.cancellation_reason,
                  (a.starts_at at time zone t.time_zone)
                    = ((now() at time zone t.time_zone)::date + 1) + time '09:00' as tomorrow_at_nine,
                  a.ends_at - a.starts_at = interval '30 minutes' as half_an_hour
             from app_public.tenants t
             join app_public.doctors d on d.tenant_id = t.id and d.id = $2
             join app_public.patients p on p.tenant_id = t.id and p.id = $3
             join app_public.appointments a on a.tenant_id = t.id and a.id = $4
            where t.id = $1`,
          [claims.tenant_id, outcome.doctorId, outcome.patientId, outcome.appointmentId],
        );
        return row;
      });
      expect({ run, ...stored }).toEqual({
        run,
        time_zone: "Europe/Madrid",
        offices: 2,
        doctor_role: "doctor",
        patient: "Lucia Fernandez",
        status: "cancelled",
        office_id: "main",
        cancellation_reason: "Patient called",
        tomorrow_at_nine: true,
        half_an_hour: true,
      });

      // The weekly series: 8 visits from a week ahead on, at 10:00 Madrid time but the second, moved to 12:00.
      const visits = await asOwner(async (client) => {
        const { rows } = await client.query(
          `select ((a.starts_at at time zone t.time_zone)::date - (now() at time zone t.time_zone)::date) as day,
                  to_char(a.starts_at at time zone t.time_zone, 'HH24:MI') as clock
             from app_public.appointments a join app_public.tenants t on t.id = a.tenant_id
            where a.tenant_id = $1 and a.series_id is not null order by a.starts_at`,
          [claims.tenant_id],
        );
        return rows.map((row) => `${row.day} ${row.clock}`);
      });
      expect(visits).toEqual([7, 14, 21, 28, 35, 42, 49, 56].map((day) => `${day} ${day === 14 ? "12:00" : "10:00"}`));
    }
    expect(new Set(tenants).size).toBe(2);
  });
});
