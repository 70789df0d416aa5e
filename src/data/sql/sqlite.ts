/**
 * SQLite through better-sqlite3: the embedded default, one file under the app's data folder.
 *
 * better-sqlite3 is synchronous: a statement runs to its end on the event loop and cannot be
 * interrupted, so there is no per-query timeout. `queryTimeoutMs` bounds the wait for a lock
 * held by another process (SQLite's busy timeout) instead. Keep batches bounded.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { AnyColumn, ColumnKind } from "./columns.ts";
import type { SqliteConfig } from "./config.ts";
import {
  onConflictClause,
  quoteDouble,
  run,
  scalarLiteral,
  stringLiteral,
  valuesBatching,
  valuesTuples,
  type LiveTable,
  type OpenedDriver,
  type SqlDriver,
  type SqlKysely,
  type Statement,
} from "./driver.ts";
import { DbConnectError, reasonOf } from "./errors.ts";

// Declared types chosen so each kind keeps the right affinity and reads back distinctly:
// BOOLEAN and TIMESTAMP get NUMERIC affinity, which stores our 0/1 and epoch milliseconds as integers.
const TYPES: Record<ColumnKind, string> = {
  integer: "INTEGER",
  bigint: "BIGINT",
  real: "REAL",
  text: "TEXT",
  boolean: "BOOLEAN",
  json: "TEXT",
  bytes: "BLOB",
  timestamp: "TIMESTAMP",
};

const ACCEPTED: Record<ColumnKind, readonly string[]> = {
  integer: ["integer", "int"],
  bigint: ["bigint", "integer", "int8"],
  real: ["real", "double", "float", "double precision"],
  text: ["text", "varchar"],
  boolean: ["boolean"],
  json: ["text", "json"],
  bytes: ["blob"],
  timestamp: ["timestamp"],
};

const ROW_ERROR_CODES = new Set(["SQLITE_MISMATCH", "SQLITE_TOOBIG", "SQLITE_RANGE"]);

export const sqliteDriver: SqlDriver = {
  dialect: "sqlite",
  // SQLITE_MAX_VARIABLE_NUMBER is 32766 since SQLite 3.32.
  maxParams: 32_000,
  quote: quoteDouble,
  placeholder: () => "?",
  ...valuesBatching,
  updateRows(table, columns, rows): Statement {
    // UPDATE … FROM (SQLite 3.33+): the VALUES columns are named column1, column2, …
    const params: unknown[] = [];
    const values = valuesTuples(this, rows, params);
    const set = columns.map((c, i) => `${quoteDouble(c)} = v.column${i + 2}`).join(", ");
    return { text: `UPDATE ${quoteDouble(table.name)} SET ${set} FROM (VALUES ${values}) AS v WHERE ${quoteDouble(table.name)}.${quoteDouble(table.primaryKey)} = v.column1`, params };
  },
  columnType: (col) => TYPES[col.kind],
  acceptedTypes: (kind) => ACCEPTED[kind],
  defaultLiteral(col: AnyColumn, value: unknown): string {
    return scalarLiteral(col, value, ["1", "0"]) ?? stringLiteral(col.kind === "json" ? JSON.stringify(value) : String(value), false);
  },
  createTableSuffix: "",
  upsertClause: onConflictClause,
  encode(col: AnyColumn, value: unknown): unknown {
    if (value === null) return null;
    switch (col.kind) {
      case "boolean":
        return value === true ? 1 : 0;
      case "json":
        return JSON.stringify(value);
      case "timestamp":
        return (value as Date).getTime();
      case "bytes":
        return Buffer.isBuffer(value) ? value : Buffer.from((value as Uint8Array).buffer, (value as Uint8Array).byteOffset, (value as Uint8Array).byteLength);
      default:
        return value;
    }
  },
  jsonParsed: false,
  isRowError(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === "string" && (code.startsWith("SQLITE_CONSTRAINT") || ROW_ERROR_CODES.has(code));
  },
  async inspect(db: SqlKysely, table: string): Promise<LiveTable | undefined> {
    const cols = await run<{ name: string; type: string; notnull: bigint; pk: bigint }>(db, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, [table]);
    if (cols.rows.length === 0) return undefined;
    const indexes = await run<{ name: string; unique: bigint; origin: string }>(db, `SELECT name, "unique", origin FROM pragma_index_list(?)`, [table]);
    return {
      columns: new Map(cols.rows.map((c) => [c.name, { type: c.type.toLowerCase().replace(/\s*\(.*$/, ""), nullable: Number(c.notnull) === 0 && Number(c.pk) === 0 }])),
      primaryKey: cols.rows
        .filter((c) => Number(c.pk) > 0)
        .sort((a, b) => Number(a.pk) - Number(b.pk))
        .map((c) => c.name),
      // origin "c": made by CREATE INDEX; "u" and "pk" back constraints.
      indexes: new Map(indexes.rows.filter((i) => i.origin === "c").map((i) => [i.name, { unique: Number(i.unique) === 1 }])),
    };
  },
};

export function openSqlite(config: SqliteConfig): OpenedDriver {
  let database: BetterSqlite3.Database | undefined;
  try {
    if (config.file !== ":memory:") mkdirSync(dirname(config.file), { recursive: true });
    database = new BetterSqlite3(config.file, { timeout: config.queryTimeoutMs });
    // FULL: a committed batch survives a power cut, which write-back promises; batches make the fsync cheap.
    if (config.file !== ":memory:") database.pragma("journal_mode = WAL");
    database.pragma("synchronous = FULL");
    database.pragma("foreign_keys = ON");
    // Integers come back as bigint, so 64-bit values are exact; decodeValue narrows 32-bit columns.
    database.defaultSafeIntegers(true);
  } catch (error) {
    database?.close();
    throw new DbConnectError(`cannot open sqlite database ${config.file}: ${reasonOf(error)}`, { cause: error });
  }
  return { driver: sqliteDriver, kysely: new Kysely<unknown>({ dialect: new SqliteDialect({ database }) }) };
}
