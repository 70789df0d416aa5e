/**
 * The SQL driver interface: what differs between SQLite, PostgreSQL and MySQL/MariaDB
 * (identifier quoting, placeholders, column types, upsert syntax, value encoding, which
 * errors belong to one row, live-schema inspection). Everything else in src/data/sql is
 * written once against it. Statements go through Kysely as compiled text plus parameters:
 * values are always parameters, never spliced into SQL.
 */
import { CompiledQuery, type Kysely, type QueryResult } from "kysely";
import type { AnyColumn, ColumnKind } from "./columns.ts";
import type { SqlDialect } from "./config.ts";
import type { PreparedChange } from "./statements.ts";
import type { AnyTable } from "./table.ts";

/** The Kysely instance of a database. Its schema type is open: use `kysely.withTables<…>()` for typed queries. */
export type SqlKysely = Kysely<unknown>;

export interface LiveColumn {
  /** The type the database reports, lower case, without length: "integer", "varchar", "longtext". */
  type: string;
  nullable: boolean;
}

/** A table as it is in the database. */
export interface LiveTable {
  columns: Map<string, LiveColumn>;
  primaryKey: string[];
  /** Secondary indexes by name (primary key and constraint-backing indexes left out). */
  indexes: Map<string, { unique: boolean }>;
}

export interface Statement {
  text: string;
  params: unknown[];
}

export interface SqlDriver {
  readonly dialect: SqlDialect;
  /** Most bound parameters in one statement. */
  readonly maxParams: number;
  /** Most rows one insertRows/updateRows statement takes for rows of `width` values. */
  rowsPerStatement(width: number): number;
  /** One INSERT (an upsert on the primary key if `upsert`) of `rows`, each holding the encoded values of `columns`. */
  insertRows(table: AnyTable, columns: readonly string[], rows: readonly (readonly unknown[])[], upsert: boolean): Statement;
  /** One UPDATE of many rows by primary key; each row is [encoded key, ...encoded values of `columns`]. Keys must be distinct. */
  updateRows(table: AnyTable, columns: readonly string[], rows: readonly (readonly unknown[])[]): Statement;
  /**
   * Run first in every applyBatch transaction that holds an update (PostgreSQL: planner
   * settings local to the transaction, see postgres.ts). No parameters, no values.
   */
  readonly updateSetup?: string;
  quote(identifier: string): string;
  /** The n-th (1-based) parameter placeholder. */
  placeholder(n: number): string;
  /** The DDL type of a column (`indexed`: it is the primary key or in an index). */
  columnType(col: AnyColumn, indexed: boolean): string;
  /** Reported live types (see LiveColumn.type) that hold a column of this kind without loss. */
  acceptedTypes(kind: ColumnKind): readonly string[];
  /** A column default as a DDL literal (DDL takes no parameters; the value comes from the declaration). */
  defaultLiteral(col: AnyColumn, value: unknown): string;
  /** Appended to CREATE TABLE (engine and charset on MySQL). */
  readonly createTableSuffix: string;
  /** The clause after a multi-row INSERT that turns it into an upsert on the primary key. */
  upsertClause(table: AnyTable, columns: readonly string[]): string;
  /** JS value → driver parameter. */
  encode(col: AnyColumn, value: unknown): unknown;
  /** Whether JSON arrives parsed from the driver (PostgreSQL jsonb) rather than as text. */
  readonly jsonParsed: boolean;
  /** Whether an error is about the data of the statement (constraint, bad value), not the connection or the SQL. */
  isRowError(error: unknown): boolean;
  /**
   * For a change refused on its own with `error`: a statement whose own refusal names the real
   * cause better, or undefined to report `error` as it is. applyBatch runs it under a savepoint
   * and always rolls it back (MySQL: see its upsertClause).
   */
  refusalProbe?(change: PreparedChange, error: unknown): Statement | undefined;
  /** The table as it is now, or undefined if it does not exist. */
  inspect(db: SqlKysely, table: string): Promise<LiveTable | undefined>;
}

export interface OpenedDriver {
  driver: SqlDriver;
  kysely: SqlKysely;
}

/** Run one statement. */
export async function run<R = Record<string, unknown>>(db: SqlKysely, text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
  return db.executeQuery<R>(CompiledQuery.raw(text, [...params]));
}

/** Driver value → JS value of the column's kind. Drivers hand back bigint (SQLite), string (int8, MySQL BIGINT), Buffer, Date or number. */
export function decodeValue(driver: SqlDriver, col: AnyColumn, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  switch (col.kind) {
    case "integer":
    case "real":
      return typeof raw === "number" ? raw : Number(raw);
    case "bigint":
      return typeof raw === "bigint" ? raw : BigInt(raw as string | number);
    case "boolean":
      return typeof raw === "boolean" ? raw : Number(raw) !== 0;
    case "json":
      return driver.jsonParsed ? raw : (JSON.parse(typeof raw === "string" ? raw : (raw as Buffer).toString("utf8")) as unknown);
    case "text":
    case "bytes":
      return raw;
    case "timestamp":
      return raw instanceof Date ? raw : new Date(Number(raw));
  }
}

/** Cap on rows per VALUES statement: below every parameter limit for narrow tables, and bounding packet size. */
const MAX_VALUES_ROWS = 500;

/** Rows per statement for drivers that bind one parameter per value. */
export function valuesRowsPerStatement(driver: SqlDriver, width: number): number {
  return Math.max(1, Math.min(MAX_VALUES_ROWS, Math.floor(driver.maxParams / width)));
}

export function placeholders(driver: SqlDriver, from: number, count: number): string {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = driver.placeholder(from + i);
  return out.join(", ");
}

/** `(?, ?), (?, ?)`: the rows as VALUES tuples, their values appended to `params`. */
export function valuesTuples(driver: SqlDriver, rows: readonly (readonly unknown[])[], params: unknown[]): string {
  const tuples = new Array<string>(rows.length);
  rows.forEach((row, i) => {
    tuples[i] = `(${placeholders(driver, params.length + 1, row.length)})`;
    for (const value of row) params.push(value);
  });
  return tuples.join(", ");
}

/** A multi-row `INSERT … VALUES (…), (…)` with the driver's upsert clause. */
/** rowsPerStatement and insertRows of the dialects that batch with multi-row VALUES (SQLite, MySQL). */
export const valuesBatching: Pick<SqlDriver, "rowsPerStatement" | "insertRows"> = {
  rowsPerStatement(this: SqlDriver, width) {
    return valuesRowsPerStatement(this, width);
  },
  insertRows(this: SqlDriver, table, columns, rows, upsert) {
    return valuesInsert(this, table, columns, rows, upsert);
  },
};

export function valuesInsert(driver: SqlDriver, table: AnyTable, columns: readonly string[], rows: readonly (readonly unknown[])[], upsert: boolean): Statement {
  const params: unknown[] = [];
  const text = `INSERT INTO ${driver.quote(table.name)} (${columns.map((c) => driver.quote(c)).join(", ")}) VALUES ${valuesTuples(driver, rows, params)}`;
  return { text: upsert ? text + driver.upsertClause(table, columns) : text, params };
}

/** Identifier quoting of SQLite and PostgreSQL. */
export function quoteDouble(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** SQLite's and PostgreSQL's upsert on the primary key: the given columns take the new row's values. */
export function onConflictClause(table: AnyTable, columns: readonly string[]): string {
  const set = columns.filter((c) => c !== table.primaryKey).map((c) => `${quoteDouble(c)} = excluded.${quoteDouble(c)}`);
  return ` ON CONFLICT (${quoteDouble(table.primaryKey)}) ${set.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${set.join(", ")}`}`;
}

/** SQL string literal: quotes doubled; on MySQL backslashes doubled too (it reads them as escapes). */
export function stringLiteral(text: string, backslashEscapes: boolean): string {
  const escaped = text.replace(/'/g, "''");
  return `'${backslashEscapes ? escaped.replace(/\\/g, "\\\\") : escaped}'`;
}

/** Numbers, bigints and booleans as DDL literals; strings and JSON are the dialect's business. */
export function scalarLiteral(col: AnyColumn, value: unknown, booleans: [string, string]): string | undefined {
  switch (col.kind) {
    case "integer":
    case "real":
      return String(value);
    case "bigint":
      return (value as bigint).toString();
    case "boolean":
      return value === true ? booleans[0] : booleans[1];
    default:
      return undefined;
  }
}

/** The SQLSTATE classes of data errors: 22 (data exception) and 23 (integrity constraint violation). */
export function isDataSqlState(state: unknown): boolean {
  return typeof state === "string" && (state.startsWith("22") || state.startsWith("23"));
}

/** Reject after `ms` with `message` unless `promise` settles first; the timer never outlives the race. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
