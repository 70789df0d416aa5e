/**
 * PostgreSQL through `pg`. Each statement is bounded twice: the server cancels it after
 * `statement_timeout`, and the client gives up a little later (`query_timeout`) in case the
 * server cannot be heard at all.
 */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { AnyColumn, ColumnKind } from "./columns.ts";
import type { ServerConfig } from "./config.ts";
import {
  isDataSqlState,
  onConflictClause,
  quoteDouble,
  run,
  scalarLiteral,
  stringLiteral,
  type LiveTable,
  type OpenedDriver,
  type SqlDriver,
  type SqlKysely,
  type Statement,
} from "./driver.ts";
import type { AnyTable } from "./table.ts";

/** How much longer than the server's statement timeout the client waits before giving up. */
const CLIENT_GRACE_MS = 5000;
const IDLE_CLOSE_MS = 30_000;
/** Rows per bulk statement: values travel as one array per column, so this bounds size, not parameters. */
const ROWS_PER_STATEMENT = 5000;
/** Heap fill of the tables syncSchema creates (%); PostgreSQL's default is 100. */
const FILLFACTOR = 80;

const ACCEPTED: Record<ColumnKind, readonly string[]> = {
  integer: ["integer"],
  bigint: ["bigint"],
  real: ["double precision"],
  text: ["text", "character varying"],
  boolean: ["boolean"],
  json: ["jsonb", "json"],
  bytes: ["bytea"],
  timestamp: ["timestamp with time zone"],
};

function columnType(col: AnyColumn): string {
  switch (col.kind) {
    case "integer":
      return "integer";
    case "bigint":
      return "bigint";
    case "real":
      return "double precision";
    case "text":
      return col.maxLength === undefined ? "text" : `varchar(${col.maxLength})`;
    case "boolean":
      return "boolean";
    case "json":
      return "jsonb";
    case "bytes":
      return "bytea";
    case "timestamp":
      return "timestamptz";
  }
}

/**
 * `unnest($1::bigint[], $2::text[], …)`: the rows as one array parameter per column. One
 * statement of a few parameters whatever the row count, parsed once; much faster than VALUES
 * tuples with a parameter per value.
 */
function unnest(table: AnyTable, columns: readonly string[], rows: readonly (readonly unknown[])[], params: unknown[]): string {
  const arrays = columns.map((name, j) => {
    params.push(rows.map((row) => row[j]));
    return `$${params.length}::${columnType(table.columns[name] as AnyColumn)}[]`;
  });
  return `unnest(${arrays.join(", ")})`;
}

export const postgresDriver: SqlDriver = {
  dialect: "postgres",
  maxParams: 65_535,
  quote: quoteDouble,
  placeholder: (n) => `$${n}`,
  rowsPerStatement: () => ROWS_PER_STATEMENT,
  insertRows(table, columns, rows, upsert): Statement {
    const params: unknown[] = [];
    const text = `INSERT INTO ${quoteDouble(table.name)} (${columns.map(quoteDouble).join(", ")}) SELECT * FROM ${unnest(table, columns, rows, params)}`;
    return { text: upsert ? text + onConflictClause(table, columns) : text, params };
  },
  updateRows(table, columns, rows): Statement {
    const params: unknown[] = [];
    const names = ["k", ...columns.map((_, i) => `v${i}`)].join(", ");
    // Sorted by key (a server-side sort of a few thousand keys is cheap): the nested loop that
    // updateSetup makes the planner choose then walks the key index and the heap in order.
    const from = `(SELECT * FROM ${unnest(table, [table.primaryKey, ...columns], rows, params)} AS s(${names}) ORDER BY k)`;
    const set = columns.map((c, i) => `${quoteDouble(c)} = u.v${i}`).join(", ");
    return { text: `UPDATE ${quoteDouble(table.name)} AS t SET ${set} FROM ${from} AS u(${names}) WHERE t.${quoteDouble(table.primaryKey)} = u.k`, params };
  },
  // The planner, costing a seq scan as cheap, joins the keys of a multi-row UPDATE by hashing
  // the whole table (or merging it) once per statement; an index lookup per key is 1.3–2×
  // faster on a 50,000-row table and stays proportional to the batch, not the table, as the
  // table grows. Local to the applyBatch transaction; its statements hold no other join.
  updateSetup: "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
  columnType,
  acceptedTypes: (kind) => ACCEPTED[kind],
  defaultLiteral(col: AnyColumn, value: unknown): string {
    const scalar = scalarLiteral(col, value, ["true", "false"]);
    if (scalar !== undefined) return scalar;
    return col.kind === "json" ? `${stringLiteral(JSON.stringify(value), false)}::jsonb` : stringLiteral(String(value), false);
  },
  // Room on each page for updated rows: an update of columns no index covers can then stay on
  // its page (HOT) and writes no index entries. See docs/data.md, "PostgreSQL storage".
  createTableSuffix: ` WITH (fillfactor = ${FILLFACTOR})`,
  upsertClause: onConflictClause,
  encode(col: AnyColumn, value: unknown): unknown {
    // pg would turn a JS array into a PostgreSQL array, so JSON goes as text.
    return col.kind === "json" && value !== null ? JSON.stringify(value) : value;
  },
  jsonParsed: true,
  isRowError: (error) => isDataSqlState((error as { code?: unknown } | null)?.code),
  async inspect(db: SqlKysely, table: string): Promise<LiveTable | undefined> {
    const cols = await run<{ name: string; type: string; nullable: string }>(
      db,
      `SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
      [table],
    );
    if (cols.rows.length === 0) return undefined;
    const indexes = await run<{ name: string; unique: boolean; primary: boolean; column: string; constraint: boolean }>(
      db,
      `SELECT c.relname AS name, i.indisunique AS "unique", i.indisprimary AS "primary", a.attname AS "column",
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS "constraint"
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = to_regclass(quote_ident($1))`,
      [table],
    );
    return {
      columns: new Map(cols.rows.map((c) => [c.name, { type: c.type, nullable: c.nullable === "YES" }])),
      primaryKey: indexes.rows.filter((i) => i.primary).map((i) => i.column),
      indexes: new Map(indexes.rows.filter((i) => !i.primary && !i.constraint).map((i) => [i.name, { unique: i.unique }])),
    };
  },
};

export function openPostgres(config: ServerConfig, onIdleError: (error: Error) => void): OpenedDriver {
  const pool = new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    max: config.poolSize,
    // Also bounds the wait for a free pooled connection.
    connectionTimeoutMillis: config.connectTimeoutMs,
    idleTimeoutMillis: IDLE_CLOSE_MS,
    statement_timeout: config.queryTimeoutMs,
    query_timeout: config.queryTimeoutMs + CLIENT_GRACE_MS,
    application_name: "glowfly",
  });
  // An idle connection that breaks (server restart) emits here; unhandled, it would end the process.
  pool.on("error", onIdleError);
  // So does a checked-out one, on the client itself (the pool listens only while it is idle): the
  // query it runs fails with the same error, which is what the caller handles.
  pool.on("connect", (client) => client.on("error", () => undefined));
  return { driver: postgresDriver, kysely: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }) };
}
