/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation AddDoctor($fullName: String!, $email: String, $specialty: String, $offices: JSON!) {\n  addDoctor(\n    input: {fullName: $fullName, email: $email, specialty: $specialty, offices: $offices}\n  ) {\n    result {\n      rowId\n      fullName\n      offices\n      userId\n    }\n  }\n}": typeof types.AddDoctorDocument,
    "mutation AddUser($email: String!, $fullName: String!, $userRole: String) {\n  addUser(input: {email: $email, fullName: $fullName, userRole: $userRole}) {\n    result {\n      rowId\n      email\n      fullName\n      userRole\n    }\n  }\n}": typeof types.AddUserDocument,
    "query AppointmentsOutsideHours {\n  upcomingAppointmentsOutsideHours {\n    nodes {\n      rowId\n      startsAt\n      officeId\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n  }\n}": typeof types.AppointmentsOutsideHoursDocument,
    "mutation BookAppointment($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $startsAt: Datetime!, $endsAt: Datetime!, $reason: String, $outsideHours: Boolean = false) {\n  createAppointment(\n    input: {appointment: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, startsAt: $startsAt, endsAt: $endsAt, reason: $reason, outsideHours: $outsideHours}}\n  ) {\n    appointment {\n      rowId\n      startsAt\n      status\n    }\n  }\n}": typeof types.BookAppointmentDocument,
    "mutation CancelAppointment($rowId: UUID!, $cancellationReason: String) {\n  updateAppointment(\n    input: {rowId: $rowId, patch: {status: \"cancelled\", cancellationReason: $cancellationReason}}\n  ) {\n    appointment {\n      rowId\n      status\n    }\n  }\n}": typeof types.CancelAppointmentDocument,
    "mutation ChangeSeries($appointmentId: UUID!, $scope: SeriesScope!, $startTime: Time, $officeId: String, $status: String, $cancellationReason: String) {\n  updateAppointmentSeries(\n    input: {appointmentId: $appointmentId, scope: $scope, startTime: $startTime, officeId: $officeId, status: $status, cancellationReason: $cancellationReason}\n  ) {\n    result {\n      rowId\n      startsAt\n      status\n      seriesId\n    }\n  }\n}": typeof types.ChangeSeriesDocument,
    "mutation ChangeUserEmail($userId: UUID!, $email: String!) {\n  changeUserEmail(input: {userId: $userId, email: $email}) {\n    result {\n      rowId\n      email\n    }\n  }\n}": typeof types.ChangeUserEmailDocument,
    "mutation CreatePatient($fullName: String!, $birthDate: Date, $gender: String, $phone: String, $email: String) {\n  createPatient(\n    input: {patient: {fullName: $fullName, birthDate: $birthDate, gender: $gender, phone: $phone, email: $email}}\n  ) {\n    patient {\n      rowId\n      fullName\n    }\n  }\n}": typeof types.CreatePatientDocument,
    "mutation CreateWeeklySeries($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $firstDate: Date!, $startTime: Time!, $rrule: String!, $durationMinutes: Int!, $reason: String) {\n  createAppointmentSeries(\n    input: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, firstDate: $firstDate, startTime: $startTime, rrule: $rrule, durationMinutes: $durationMinutes, reason: $reason}\n  ) {\n    result {\n      rowId\n      rrule\n      appointments(orderBy: STARTS_AT_ASC) {\n        nodes {\n          rowId\n          startsAt\n        }\n      }\n    }\n  }\n}": typeof types.CreateWeeklySeriesDocument,
    "query CurrentSession {\n  currentUser {\n    rowId\n    fullName\n    email\n    userRole\n  }\n  currentTenant {\n    name\n    timeZone\n    subscriptionPlan\n    trialEndsAt\n    isReadOnly\n  }\n}": typeof types.CurrentSessionDocument,
    "query DoctorWeek($doctorId: UUID!, $from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {doctorId: {equalTo: $doctorId}, startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    nodes {\n      rowId\n      startsAt\n      endsAt\n      officeId\n      status\n      reason\n      patient {\n        rowId\n        fullName\n      }\n    }\n  }\n}": typeof types.DoctorWeekDocument,
    "query FreeSlots($fromDate: Date!, $toDate: Date!, $doctorIds: [UUID], $durationMinutes: Int, $first: Int) {\n  freeSlots(\n    fromDate: $fromDate\n    toDate: $toDate\n    doctorIds: $doctorIds\n    durationMinutes: $durationMinutes\n    first: $first\n  ) {\n    nodes {\n      doctorId\n      officeId\n      startsAt\n      endsAt\n    }\n  }\n}": typeof types.FreeSlotsDocument,
    "query SearchPatients($search: String!, $after: Cursor) {\n  searchPatients(search: $search, first: 20, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      rowId\n      fullName\n      birthDate\n      phone\n    }\n  }\n}": typeof types.SearchPatientsDocument,
    "mutation SetWorkingHours($doctorId: UUID!, $officeId: String!, $weekday: Int!, $startsAt: Time!, $endsAt: Time!) {\n  createWorkingHour(\n    input: {workingHour: {doctorId: $doctorId, officeId: $officeId, weekday: $weekday, startsAt: $startsAt, endsAt: $endsAt}}\n  ) {\n    workingHour {\n      rowId\n      weekday\n      startsAt\n      endsAt\n    }\n  }\n}": typeof types.SetWorkingHoursDocument,
    "query WeekSchedule($from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    totalCount\n    nodes {\n      rowId\n      startsAt\n      officeId\n      status\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n    aggregates {\n      distinctCount {\n        patientId\n      }\n    }\n    groupedAggregates(groupBy: DOCTOR_ID) {\n      keys\n      distinctCount {\n        rowId\n      }\n    }\n  }\n}": typeof types.WeekScheduleDocument,
};
const documents: Documents = {
    "mutation AddDoctor($fullName: String!, $email: String, $specialty: String, $offices: JSON!) {\n  addDoctor(\n    input: {fullName: $fullName, email: $email, specialty: $specialty, offices: $offices}\n  ) {\n    result {\n      rowId\n      fullName\n      offices\n      userId\n    }\n  }\n}": types.AddDoctorDocument,
    "mutation AddUser($email: String!, $fullName: String!, $userRole: String) {\n  addUser(input: {email: $email, fullName: $fullName, userRole: $userRole}) {\n    result {\n      rowId\n      email\n      fullName\n      userRole\n    }\n  }\n}": types.AddUserDocument,
    "query AppointmentsOutsideHours {\n  upcomingAppointmentsOutsideHours {\n    nodes {\n      rowId\n      startsAt\n      officeId\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n  }\n}": types.AppointmentsOutsideHoursDocument,
    "mutation BookAppointment($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $startsAt: Datetime!, $endsAt: Datetime!, $reason: String, $outsideHours: Boolean = false) {\n  createAppointment(\n    input: {appointment: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, startsAt: $startsAt, endsAt: $endsAt, reason: $reason, outsideHours: $outsideHours}}\n  ) {\n    appointment {\n      rowId\n      startsAt\n      status\n    }\n  }\n}": types.BookAppointmentDocument,
    "mutation CancelAppointment($rowId: UUID!, $cancellationReason: String) {\n  updateAppointment(\n    input: {rowId: $rowId, patch: {status: \"cancelled\", cancellationReason: $cancellationReason}}\n  ) {\n    appointment {\n      rowId\n      status\n    }\n  }\n}": types.CancelAppointmentDocument,
    "mutation ChangeSeries($appointmentId: UUID!, $scope: SeriesScope!, $startTime: Time, $officeId: String, $status: String, $cancellationReason: String) {\n  updateAppointmentSeries(\n    input: {appointmentId: $appointmentId, scope: $scope, startTime: $startTime, officeId: $officeId, status: $status, cancellationReason: $cancellationReason}\n  ) {\n    result {\n      rowId\n      startsAt\n      status\n      seriesId\n    }\n  }\n}": types.ChangeSeriesDocument,
    "mutation ChangeUserEmail($userId: UUID!, $email: String!) {\n  changeUserEmail(input: {userId: $userId, email: $email}) {\n    result {\n      rowId\n      email\n    }\n  }\n}": types.ChangeUserEmailDocument,
    "mutation CreatePatient($fullName: String!, $birthDate: Date, $gender: String, $phone: String, $email: String) {\n  createPatient(\n    input: {patient: {fullName: $fullName, birthDate: $birthDate, gender: $gender, phone: $phone, email: $email}}\n  ) {\n    patient {\n      rowId\n      fullName\n    }\n  }\n}": types.CreatePatientDocument,
    "mutation CreateWeeklySeries($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $firstDate: Date!, $startTime: Time!, $rrule: String!, $durationMinutes: Int!, $reason: String) {\n  createAppointmentSeries(\n    input: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, firstDate: $firstDate, startTime: $startTime, rrule: $rrule, durationMinutes: $durationMinutes, reason: $reason}\n  ) {\n    result {\n      rowId\n      rrule\n      appointments(orderBy: STARTS_AT_ASC) {\n        nodes {\n          rowId\n          startsAt\n        }\n      }\n    }\n  }\n}": types.CreateWeeklySeriesDocument,
    "query CurrentSession {\n  currentUser {\n    rowId\n    fullName\n    email\n    userRole\n  }\n  currentTenant {\n    name\n    timeZone\n    subscriptionPlan\n    trialEndsAt\n    isReadOnly\n  }\n}": types.CurrentSessionDocument,
    "query DoctorWeek($doctorId: UUID!, $from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {doctorId: {equalTo: $doctorId}, startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    nodes {\n      rowId\n      startsAt\n      endsAt\n      officeId\n      status\n      reason\n      patient {\n        rowId\n        fullName\n      }\n    }\n  }\n}": types.DoctorWeekDocument,
    "query FreeSlots($fromDate: Date!, $toDate: Date!, $doctorIds: [UUID], $durationMinutes: Int, $first: Int) {\n  freeSlots(\n    fromDate: $fromDate\n    toDate: $toDate\n    doctorIds: $doctorIds\n    durationMinutes: $durationMinutes\n    first: $first\n  ) {\n    nodes {\n      doctorId\n      officeId\n      startsAt\n      endsAt\n    }\n  }\n}": types.FreeSlotsDocument,
    "query SearchPatients($search: String!, $after: Cursor) {\n  searchPatients(search: $search, first: 20, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      rowId\n      fullName\n      birthDate\n      phone\n    }\n  }\n}": types.SearchPatientsDocument,
    "mutation SetWorkingHours($doctorId: UUID!, $officeId: String!, $weekday: Int!, $startsAt: Time!, $endsAt: Time!) {\n  createWorkingHour(\n    input: {workingHour: {doctorId: $doctorId, officeId: $officeId, weekday: $weekday, startsAt: $startsAt, endsAt: $endsAt}}\n  ) {\n    workingHour {\n      rowId\n      weekday\n      startsAt\n      endsAt\n    }\n  }\n}": types.SetWorkingHoursDocument,
    "query WeekSchedule($from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    totalCount\n    nodes {\n      rowId\n      startsAt\n      officeId\n      status\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n    aggregates {\n      distinctCount {\n        patientId\n      }\n    }\n    groupedAggregates(groupBy: DOCTOR_ID) {\n      keys\n      distinctCount {\n        rowId\n      }\n    }\n  }\n}": types.WeekScheduleDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation AddDoctor($fullName: String!, $email: String, $specialty: String, $offices: JSON!) {\n  addDoctor(\n    input: {fullName: $fullName, email: $email, specialty: $specialty, offices: $offices}\n  ) {\n    result {\n      rowId\n      fullName\n      offices\n      userId\n    }\n  }\n}"): (typeof documents)["mutation AddDoctor($fullName: String!, $email: String, $specialty: String, $offices: JSON!) {\n  addDoctor(\n    input: {fullName: $fullName, email: $email, specialty: $specialty, offices: $offices}\n  ) {\n    result {\n      rowId\n      fullName\n      offices\n      userId\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation AddUser($email: String!, $fullName: String!, $userRole: String) {\n  addUser(input: {email: $email, fullName: $fullName, userRole: $userRole}) {\n    result {\n      rowId\n      email\n      fullName\n      userRole\n    }\n  }\n}"): (typeof documents)["mutation AddUser($email: String!, $fullName: String!, $userRole: String) {\n  addUser(input: {email: $email, fullName: $fullName, userRole: $userRole}) {\n    result {\n      rowId\n      email\n      fullName\n      userRole\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AppointmentsOutsideHours {\n  upcomingAppointmentsOutsideHours {\n    nodes {\n      rowId\n      startsAt\n      officeId\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n  }\n}"): (typeof documents)["query AppointmentsOutsideHours {\n  upcomingAppointmentsOutsideHours {\n    nodes {\n      rowId\n      startsAt\n      officeId\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation BookAppointment($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $startsAt: Datetime!, $endsAt: Datetime!, $reason: String, $outsideHours: Boolean = false) {\n  createAppointment(\n    input: {appointment: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, startsAt: $startsAt, endsAt: $endsAt, reason: $reason, outsideHours: $outsideHours}}\n  ) {\n    appointment {\n      rowId\n      startsAt\n      status\n    }\n  }\n}"): (typeof documents)["mutation BookAppointment($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $startsAt: Datetime!, $endsAt: Datetime!, $reason: String, $outsideHours: Boolean = false) {\n  createAppointment(\n    input: {appointment: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, startsAt: $startsAt, endsAt: $endsAt, reason: $reason, outsideHours: $outsideHours}}\n  ) {\n    appointment {\n      rowId\n      startsAt\n      status\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CancelAppointment($rowId: UUID!, $cancellationReason: String) {\n  updateAppointment(\n    input: {rowId: $rowId, patch: {status: \"cancelled\", cancellationReason: $cancellationReason}}\n  ) {\n    appointment {\n      rowId\n      status\n    }\n  }\n}"): (typeof documents)["mutation CancelAppointment($rowId: UUID!, $cancellationReason: String) {\n  updateAppointment(\n    input: {rowId: $rowId, patch: {status: \"cancelled\", cancellationReason: $cancellationReason}}\n  ) {\n    appointment {\n      rowId\n      status\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ChangeSeries($appointmentId: UUID!, $scope: SeriesScope!, $startTime: Time, $officeId: String, $status: String, $cancellationReason: String) {\n  updateAppointmentSeries(\n    input: {appointmentId: $appointmentId, scope: $scope, startTime: $startTime, officeId: $officeId, status: $status, cancellationReason: $cancellationReason}\n  ) {\n    result {\n      rowId\n      startsAt\n      status\n      seriesId\n    }\n  }\n}"): (typeof documents)["mutation ChangeSeries($appointmentId: UUID!, $scope: SeriesScope!, $startTime: Time, $officeId: String, $status: String, $cancellationReason: String) {\n  updateAppointmentSeries(\n    input: {appointmentId: $appointmentId, scope: $scope, startTime: $startTime, officeId: $officeId, status: $status, cancellationReason: $cancellationReason}\n  ) {\n    result {\n      rowId\n      startsAt\n      status\n      seriesId\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ChangeUserEmail($userId: UUID!, $email: String!) {\n  changeUserEmail(input: {userId: $userId, email: $email}) {\n    result {\n      rowId\n      email\n    }\n  }\n}"): (typeof documents)["mutation ChangeUserEmail($userId: UUID!, $email: String!) {\n  changeUserEmail(input: {userId: $userId, email: $email}) {\n    result {\n      rowId\n      email\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreatePatient($fullName: String!, $birthDate: Date, $gender: String, $phone: String, $email: String) {\n  createPatient(\n    input: {patient: {fullName: $fullName, birthDate: $birthDate, gender: $gender, phone: $phone, email: $email}}\n  ) {\n    patient {\n      rowId\n      fullName\n    }\n  }\n}"): (typeof documents)["mutation CreatePatient($fullName: String!, $birthDate: Date, $gender: String, $phone: String, $email: String) {\n  createPatient(\n    input: {patient: {fullName: $fullName, birthDate: $birthDate, gender: $gender, phone: $phone, email: $email}}\n  ) {\n    patient {\n      rowId\n      fullName\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateWeeklySeries($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $firstDate: Date!, $startTime: Time!, $rrule: String!, $durationMinutes: Int!, $reason: String) {\n  createAppointmentSeries(\n    input: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, firstDate: $firstDate, startTime: $startTime, rrule: $rrule, durationMinutes: $durationMinutes, reason: $reason}\n  ) {\n    result {\n      rowId\n      rrule\n      appointments(orderBy: STARTS_AT_ASC) {\n        nodes {\n          rowId\n          startsAt\n        }\n      }\n    }\n  }\n}"): (typeof documents)["mutation CreateWeeklySeries($doctorId: UUID!, $patientId: UUID!, $officeId: String!, $firstDate: Date!, $startTime: Time!, $rrule: String!, $durationMinutes: Int!, $reason: String) {\n  createAppointmentSeries(\n    input: {doctorId: $doctorId, patientId: $patientId, officeId: $officeId, firstDate: $firstDate, startTime: $startTime, rrule: $rrule, durationMinutes: $durationMinutes, reason: $reason}\n  ) {\n    result {\n      rowId\n      rrule\n      appointments(orderBy: STARTS_AT_ASC) {\n        nodes {\n          rowId\n          startsAt\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query CurrentSession {\n  currentUser {\n    rowId\n    fullName\n    email\n    userRole\n  }\n  currentTenant {\n    name\n    timeZone\n    subscriptionPlan\n    trialEndsAt\n    isReadOnly\n  }\n}"): (typeof documents)["query CurrentSession {\n  currentUser {\n    rowId\n    fullName\n    email\n    userRole\n  }\n  currentTenant {\n    name\n    timeZone\n    subscriptionPlan\n    trialEndsAt\n    isReadOnly\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query DoctorWeek($doctorId: UUID!, $from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {doctorId: {equalTo: $doctorId}, startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    nodes {\n      rowId\n      startsAt\n      endsAt\n      officeId\n      status\n      reason\n      patient {\n        rowId\n        fullName\n      }\n    }\n  }\n}"): (typeof documents)["query DoctorWeek($doctorId: UUID!, $from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {doctorId: {equalTo: $doctorId}, startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    nodes {\n      rowId\n      startsAt\n      endsAt\n      officeId\n      status\n      reason\n      patient {\n        rowId\n        fullName\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FreeSlots($fromDate: Date!, $toDate: Date!, $doctorIds: [UUID], $durationMinutes: Int, $first: Int) {\n  freeSlots(\n    fromDate: $fromDate\n    toDate: $toDate\n    doctorIds: $doctorIds\n    durationMinutes: $durationMinutes\n    first: $first\n  ) {\n    nodes {\n      doctorId\n      officeId\n      startsAt\n      endsAt\n    }\n  }\n}"): (typeof documents)["query FreeSlots($fromDate: Date!, $toDate: Date!, $doctorIds: [UUID], $durationMinutes: Int, $first: Int) {\n  freeSlots(\n    fromDate: $fromDate\n    toDate: $toDate\n    doctorIds: $doctorIds\n    durationMinutes: $durationMinutes\n    first: $first\n  ) {\n    nodes {\n      doctorId\n      officeId\n      startsAt\n      endsAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query SearchPatients($search: String!, $after: Cursor) {\n  searchPatients(search: $search, first: 20, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      rowId\n      fullName\n      birthDate\n      phone\n    }\n  }\n}"): (typeof documents)["query SearchPatients($search: String!, $after: Cursor) {\n  searchPatients(search: $search, first: 20, after: $after) {\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    nodes {\n      rowId\n      fullName\n      birthDate\n      phone\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation SetWorkingHours($doctorId: UUID!, $officeId: String!, $weekday: Int!, $startsAt: Time!, $endsAt: Time!) {\n  createWorkingHour(\n    input: {workingHour: {doctorId: $doctorId, officeId: $officeId, weekday: $weekday, startsAt: $startsAt, endsAt: $endsAt}}\n  ) {\n    workingHour {\n      rowId\n      weekday\n      startsAt\n      endsAt\n    }\n  }\n}"): (typeof documents)["mutation SetWorkingHours($doctorId: UUID!, $officeId: String!, $weekday: Int!, $startsAt: Time!, $endsAt: Time!) {\n  createWorkingHour(\n    input: {workingHour: {doctorId: $doctorId, officeId: $officeId, weekday: $weekday, startsAt: $startsAt, endsAt: $endsAt}}\n  ) {\n    workingHour {\n      rowId\n      weekday\n      startsAt\n      endsAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query WeekSchedule($from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    totalCount\n    nodes {\n      rowId\n      startsAt\n      officeId\n      status\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n    aggregates {\n      distinctCount {\n        patientId\n      }\n    }\n    groupedAggregates(groupBy: DOCTOR_ID) {\n      keys\n      distinctCount {\n        rowId\n      }\n    }\n  }\n}"): (typeof documents)["query WeekSchedule($from: Datetime!, $to: Datetime!) {\n  appointments(\n    filter: {startsAt: {greaterThanOrEqualTo: $from, lessThan: $to}}\n    orderBy: STARTS_AT_ASC\n  ) {\n    totalCount\n    nodes {\n      rowId\n      startsAt\n      officeId\n      status\n      doctor {\n        fullName\n      }\n      patient {\n        fullName\n      }\n    }\n    aggregates {\n      distinctCount {\n        patientId\n      }\n    }\n    groupedAggregates(groupBy: DOCTOR_ID) {\n      keys\n      distinctCount {\n        rowId\n      }\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;