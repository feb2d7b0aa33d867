/**
 * A tenant-isolation attack generated from the live GraphQL schema, not from a hand list: every
 * query field, connection (totalCount, aggregates, groupedAggregates, each filter and relation
 * filter), lookup by row id and node id, and every mutation, sent by tenant B's users against
 * tenant A's data. A table added by a later migration is attacked without editing this file.
 */
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "postgraphile/graphql";
import { randomUUID } from "node:crypto";
import { asOwner, type Clinic, type Member, type TestServer } from "./helpers";

export interface Violation {
  role: string;
  operation: string;
  problem: string;
}

export interface AttackReport {
  /** Operations sent, by name (`query patients filter tenantId`, `mutation updatePatient`, …). */
  operations: string[];
  violations: Violation[];
}

/** What tenant A has, as B must never see it. */
export interface Victim {
  clinic: Clinic;
  /** Every uuid in A's rows, A's e-mails, name and slug: none may appear in a response to B. */
  secrets: string[];
  /** A's rows per GraphQL type: node id and row id. */
  nodes: Record<string, { id: string; rowId?: string }[]>;
}

/** The schema's connection fields on Query (`patients`, `doctors`, …). */
export const connections = (schema: GraphQLSchema) =>
  Object.values(schema.getQueryType()!.getFields()).filter((field) => getNamedType(field.type).name.endsWith("Connection"));

/** The connection's node type (`PatientConnection` → `Patient`). */
const nodeTypeOf = (field: GraphQLField<unknown, unknown>) => {
  const connection = getNamedType(field.type);
  if (!isObjectType(connection)) throw new Error(`${field.name} is not an object`);
  return getNamedType(connection.getFields().nodes.type);
};

/** The connections of rows (node types with a node id), not of a function's records (free slots). */
export const rowConnections = (schema: GraphQLSchema) =>
  connections(schema).filter((field) => {
    const nodeType = nodeTypeOf(field);
    return isObjectType(nodeType) && "id" in nodeType.getFields();
  });

/** `PrescriptionItem` → `prescription_items`: PostGraphile's inflection of our table names, reversed. */
const tableOf = (typeName: string) => `${typeName.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()}s`;

/** Scalar fields of an object type, and (to `depth`) its objects' scalars; connections as totalCount. */
function selection(type: GraphQLNamedType, depth: number): string {
  if (isInterfaceType(type)) return Object.keys(type.getFields()).join(" ");
  if (!isObjectType(type)) return "";
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) parts.push(field.name);
    else if (named.name.endsWith("Connection")) parts.push(`${field.name} { totalCount }`);
    else if (depth > 0 && isObjectType(named) && named.name !== "Query") {
      const inner = selection(named, depth - 1);
      if (inner) parts.push(`${field.name} { ${inner} }`);
    }
  }
  return parts.join(" ");
}

/** A's data as it stands, read as the owner: for "writes changed nothing". */
export async function snapshotOf(tenantId: string): Promise<unknown> {
  return asOwner(async (client) => {
    const { rows: tables } = await client.query(
      `select table_name from information_schema.columns
       where table_schema = 'app_public' and column_name = 'tenant_id' order by table_name`,
    );
    const result: Record<string, unknown> = {};
    for (const { table_name } of tables) {
      const { rows } = await client.query(
        `select to_jsonb(t) as row from app_public.${table_name} t where tenant_id = $1 order by 1::text`,
        [tenantId],
      );
      result[table_name] = rows.map((r) => r.row).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    }
    result.tenant = (
      await client.query("select to_jsonb(t) as row from app_public.tenants t where id = $1", [tenantId])
    ).rows[0].row;
    return result;
  });
}

/** Collects A's secrets and nodes (as A's admin, over GraphQL, and as the owner). */
export async function victimOf(server: TestServer, schema: GraphQLSchema, clinic: Clinic): Promise<Victim> {
  const snapshot = JSON.stringify(await snapshotOf(clinic.tenantId));
  const uuids: string[] = snapshot.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
  const { rows } = await asOwner((client) =>
    client.query("select name, slug from app_public.tenants where id = $1", [clinic.tenantId]),
  );
  const nodes: Victim["nodes"] = {};
  for (const field of rowConnections(schema)) {
    const nodeType = nodeTypeOf(field);
    const hasRowId = isObjectType(nodeType) && "rowId" in nodeType.getFields();
    // Page through: a connection answers at most a page (the global catalogue alone is larger).
    for (let after: string | null = null, more = true; more;) {
      const { body } = await server.graphql(
        clinic.admin.token,
        `query ($after: Cursor) { ${field.name}(after: $after) { pageInfo { hasNextPage endCursor } nodes { __typename id ${hasRowId ? "rowId" : ""} } } }`,
        { after },
      );
      const page = body.data[field.name];
      for (const node of page.nodes as { __typename: string; id: string; rowId?: string }[]) {
        if (!node.rowId || !uuids.includes(node.rowId)) continue; // a shared row (global medicine, plan), not A's
        (nodes[node.__typename] ??= []).push({ id: node.id, rowId: node.rowId });
      }
      [after, more] = [page.pageInfo.endCursor, page.pageInfo.hasNextPage];
    }
  }
  const nodeIds = Object.values(nodes).flatMap((list) => list.map((n) => n.id));
  const secrets = [
    ...new Set([...uuids, ...nodeIds, clinic.admin.email, clinic.doctor.email, clinic.receptionist.email, rows[0].slug]),
  ];
  return { clinic, secrets, nodes };
}

/** A well-typed value for an input: required fields, one string field of a patch, A's ids where ids go. */
export function sample(type: GraphQLInputType, victim: Victim, typeName: string, fieldName = ""): unknown {
  if (isNonNullType(type)) return sample(type.ofType, victim, typeName, fieldName);
  if (isListType(type)) return [sample(type.ofType, victim, typeName, fieldName)];
  if (isEnumType(type)) return type.getValues()[0].value;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const chosen = type.name.endsWith("Patch")
      ? fields.filter((field) => getNamedType(field.type).name === "String").slice(0, 1)
      : fields.filter((field) => isNonNullType(field.type));
    return Object.fromEntries(chosen.map((field) => [field.name, sample(field.type, victim, typeName, field.name)]));
  }
  // Ids point at A's rows: the row the mutation is about, or the one a `<type>Id` field names.
  const referenced =
    fieldName.endsWith("Id") && fieldName !== "rowId" ? fieldName[0].toUpperCase() + fieldName.slice(1, -2) : typeName;
  const target = victim.nodes[referenced]?.[0] ?? victim.nodes.Tenant[0];
  switch (type.name) {
    case "ID":
      return target.id;
    case "UUID":
      return target.rowId ?? randomUUID();
    case "String":
      return fieldName === "email" ? `${randomUUID()}@example.test` : "x";
    case "Int":
    case "Float":
      return 1;
    case "Boolean":
      return true;
    case "Datetime":
      return "2030-01-01T10:00:00Z";
    case "Date":
      return "2030-01-01";
    case "Time":
      return "10:00";
    case "JSON":
      return [];
    case "BigInt":
    case "BigFloat":
      return "1";
  }
  throw new Error(`sample(): no value for scalar ${type.name}; add one`);
}

/**
 * Runs every operation as `member` (one of tenant B's users) against the victim. `only` narrows
 * the operations to names containing it (for a fixture table). Returns what it sent and what leaked.
 */
export async function attack(
  server: TestServer,
  schema: GraphQLSchema,
  victim: Victim,
  attacker: { role: string; member: Member; tenantId: string },
  only = "",
): Promise<AttackReport> {
  const report: AttackReport = { operations: [], violations: [] };
  const violation = (operation: string, problem: string) => report.violations.push({ role: attacker.role, operation, problem });
  const send = async (operation: string, document: string, variables?: Record<string, unknown>) => {
    report.operations.push(operation);
    const { body } = await server.graphql(attacker.member.token, document, variables);
    const text = JSON.stringify(body);
    const leaked = victim.secrets.find((secret) => text.includes(secret));
    if (leaked) violation(operation, `response contains tenant A's value ${leaked}`);
    return body;
  };
  const fields = Object.values(schema.getQueryType()!.getFields()).filter((field) =>
    field.name.toLowerCase().includes(only.toLowerCase()),
  );

  for (const field of fields) {
    const type = getNamedType(field.type);
    if (field.name.endsWith("Connection") || type.name.endsWith("Connection")) {
      const nodeType = nodeTypeOf(field);
      if (!isObjectType(type)) continue;
      const connection = type;
      const extra: string[] = [];
      const aggregates = connection.getFields().aggregates;
      if (aggregates) extra.push(`aggregates { ${selection(getNamedType(aggregates.type), 1)} }`);
      const grouped = connection.getFields().groupedAggregates;
      if (grouped) {
        const groupBy = getNamedType(grouped.args.find((arg) => arg.name === "groupBy")!.type);
        const first = isEnumType(groupBy) ? groupBy.getValues()[0].name : "";
        extra.push(`groupedAggregates(groupBy: [${first}]) { keys ${selection(getNamedType(grouped.type), 1)} }`);
      }
      const body = `totalCount nodes { ${selection(nodeType, 1)} } ${extra.join(" ")}`;
      const owned = await ownedCount(nodeType.name, attacker.tenantId);
      const unfiltered = await send(`query ${field.name}`, `{ ${field.name} { ${body} } }`);
      const total = unfiltered.data?.[field.name]?.totalCount;
      if (typeof total === "number" && total > owned)
        violation(`query ${field.name}`, `totalCount ${total} > ${owned} rows tenant B owns`);
      const filterArg = field.args.find((arg) => arg.name === "filter");
      const filterType = filterArg && getNamedType(filterArg.type);
      if (!filterType || !isInputObjectType(filterType)) continue;
      for (const filter of Object.values(filterType.getFields())) {
        const filterOf = getNamedType(filter.type);
        let value: unknown;
        let mustBeEmpty = true;
        if (["and", "or", "not"].includes(filter.name)) continue;
        if (filterOf.name === "Boolean") [value, mustBeEmpty] = [true, false];
        else if (!isInputObjectType(filterOf)) continue;
        else if (filterOf.name === "UUIDFilter") value = { in: victim.secrets.filter((s) => /^[0-9a-f-]{36}$/.test(s)) };
        else if ("isNull" in filterOf.getFields()) [value, mustBeEmpty] = [{ isNull: false }, false];
        else if ("some" in filterOf.getFields())
          value = { some: { rowId: { in: victim.secrets.filter((s) => /^[0-9a-f-]{36}$/.test(s)) } } };
        else if ("rowId" in filterOf.getFields())
          value = { rowId: { in: victim.secrets.filter((s) => /^[0-9a-f-]{36}$/.test(s)) } };
        else continue;
        const operation = `query ${field.name} filter ${filter.name}`;
        const result = await send(
          operation,
          `query ($filter: ${filterType.name}) { ${field.name}(filter: $filter) { totalCount } }`,
          {
            filter: { [filter.name]: value },
          },
        );
        const count = result.data?.[field.name]?.totalCount;
        if (typeof count === "number" && (count > owned || (mustBeEmpty && count > 0))) {
          violation(operation, `totalCount ${count} for tenant A's ids (B owns ${owned})`);
        }
      }
      continue;
    }
    // Lookups and everything else: fill required arguments with A's ids.
    const required = field.args.filter((arg) => isNonNullType(arg.type));
    const targets =
      required.length === 0
        ? [undefined]
        : field.name === "node"
          ? Object.values(victim.nodes).flat()
          : // A shared table (plans) has no rows of A's: probe it with A's tenant ids all the same.
            (victim.nodes[type.name] ?? victim.nodes.Tenant);
    for (const target of targets) {
      const variables: Record<string, unknown> = {};
      for (const arg of required) {
        const argType = getNamedType(arg.type).name;
        variables[arg.name] = argType === "ID" ? target?.id : argType === "UUID" ? target?.rowId : (victim.secrets.at(-1) ?? "x");
      }
      if (required.some((arg) => variables[arg.name] === undefined)) continue;
      const declared = required.map((arg) => `$${arg.name}: ${arg.type.toString()}`).join(", ");
      const passed = required.map((arg) => `${arg.name}: $${arg.name}`).join(", ");
      const inner = isLeafType(type) ? "" : `{ ${selection(type, 1) || "__typename"} }`;
      await send(
        `query ${field.name}`,
        `query ${declared ? `(${declared})` : ""} { ${field.name}${passed ? `(${passed})` : ""} ${inner} }`,
        variables,
      );
    }
  }

  const mutations = Object.values(schema.getMutationType()!.getFields()).filter((field) =>
    field.name.toLowerCase().includes(only.toLowerCase()),
  );
  for (const mutation of mutations) {
    const input = mutation.args.find((arg) => arg.name === "input")!.type;
    const typeName = mutation.name.replace(/^(create|update|delete)/, "").replace(/By[A-Z]\w*$/, "");
    await send(
      `mutation ${mutation.name}`,
      `mutation ($input: ${getNamedType(input).name}!) { ${mutation.name}(input: $input) { clientMutationId } }`,
      {
        input: sample(input, victim, typeName),
      },
    );
  }
  return report;
}

/**
 * Rows of the node type's table that tenant B may own: its own, plus shared ones (global, plans).
 * A type that is no table (a function's records, such as free slots) has no count to compare:
 * Infinity, and its isolation is tested where the function is.
 */
async function ownedCount(typeName: string, tenantId: string): Promise<number> {
  const table = tableOf(typeName);
  return asOwner(async (client) => {
    const { rows: regclass } = await client.query("select to_regclass($1) is not null as table", [`app_public.${table}`]);
    if (!regclass[0].table) return Number.POSITIVE_INFINITY;
    const { rowCount: hasTenant } = await client.query(
      "select from information_schema.columns where table_schema = 'app_public' and table_name = $1 and column_name = 'tenant_id'",
      [table],
    );
    const where = hasTenant
      ? "where tenant_id = $1 or tenant_id is null"
      : table === "tenants"
        ? "where id = $1"
        : "where $1::uuid is not null";
    const { rows } = await client.query(`select count(*)::int as n from app_public.${table} ${where}`, [tenantId]);
    return rows[0].n;
  });
}
