/**
 * MySQL and MariaDB through mysql2's callback pool (Kysely's MysqlDialect). Every statement
 * carries mysql2's inactivity timeout (the connection is closed if it fires); sessions run in
 * strict mode so a value that does not fit is an error, never silently truncated; tables use
 * utf8mb4 with a binary collation so text compares as on SQLite and PostgreSQL.
 */
import { Kysely, MysqlDialect, type MysqlPool, type MysqlPoolConnection, type MysqlQueryResult, type MysqlStream, type MysqlStreamOptions } from "kysely";
import mysql from "mysql2";
import type { AnyColumn, ColumnKind } from "./columns.ts";
import type { ServerConfig } from "./config.ts";
import {
  isDataSqlState,
  run,
  scalarLiteral,
  stringLiteral,
  valuesBatching,
  valuesInsert,
  type LiveTable,
  type OpenedDriver,
  type SqlDriver,
  type SqlKysely,
  type Statement,
} from "./driver.ts";
import { DbConnectError, reasonOf } from "./errors.ts";
import type { AnyTable } from "./table.ts";

/** MySQL cannot index unbounded TEXT: an indexed text column without maxLength is VARCHAR(this). */
const INDEXED_TEXT_LENGTH = 255;
/** Waiting getConnection calls beyond this many fail at once instead of queueing without end. */
const QUEUE_PER_CONNECTION = 100;
/** Incorrect integer/string value (HY000 in MySQL, so not caught by the SQLSTATE class). */
const ROW_ERRNOS = new Set([1366, 1367]);
/** "Column '…' cannot be null". */
const ER_BAD_NULL_ERROR = 1048;
const SESSION_SQL = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'";

const ACCEPTED: Record<ColumnKind, readonly string[]> = {
  integer: ["int"],
  bigint: ["bigint"],
  real: ["double"],
  text: ["varchar", "text", "mediumtext", "longtext", "char"],
  boolean: ["tinyint"],
  // MariaDB's JSON is LONGTEXT with a check.
  json: ["json", "longtext"],
  bytes: ["longblob", "blob", "mediumblob", "varbinary"],
  timestamp: ["datetime"],
};

function columnType(col: AnyColumn, indexed: boolean): string {
  switch (col.kind) {
    case "integer":
      return "INT";
    case "bigint":
      return "BIGINT";
    case "real":
      return "DOUBLE";
    case "text":
      return col.maxLength !== undefined ? `VARCHAR(${col.maxLength})` : indexed ? `VARCHAR(${INDEXED_TEXT_LENGTH})` : "LONGTEXT";
    case "boolean":
      return "BOOLEAN";
    case "json":
      return "JSON";
    case "bytes":
      return "LONGBLOB";
    case "timestamp":
      return "DATETIME(3)";
  }
}

const quote = (identifier: string): string => `\`${identifier.replace(/`/g, "``")}\``;

export const mysqlDriver: SqlDriver = {
  dialect: "mysql",
  maxParams: 65_535,
  quote,
  placeholder: () => "?",
  ...valuesBatching,
  updateRows(table, columns, rows): Statement {
    // `SET a = CASE k WHEN ? THEN ? … END`: comparing with the key column itself keeps its
    // collation (a joined derived table of literals would not).
    const pk = quote(table.primaryKey);
    const params: unknown[] = [];
    const set = columns.map((c, j) => {
      const arms = rows.map((row) => {
        params.push(row[0], row[j + 1]);
        return "WHEN ? THEN ?";
      });
      return `${quote(c)} = CASE ${pk} ${arms.join(" ")} END`;
    });
    for (const row of rows) params.push(row[0]);
    return { text: `UPDATE ${quote(table.name)} SET ${set.join(", ")} WHERE ${pk} IN (${rows.map(() => "?").join(", ")})`, params };
  },
  columnType,
  acceptedTypes: (kind) => ACCEPTED[kind],
  defaultLiteral(col: AnyColumn, value: unknown): string {
    const scalar = scalarLiteral(col, value, ["1", "0"]);
    if (scalar !== undefined) return scalar;
    const literal = stringLiteral(col.kind === "json" ? JSON.stringify(value) : String(value), true);
    // TEXT and JSON columns take a default only as an expression (MySQL 8.0.13+, MariaDB 10.2+).
    return columnType(col, false).startsWith("VARCHAR") ? literal : `(${literal})`;
  },
  createTableSuffix: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
  upsertClause(table: AnyTable, columns: readonly string[]): string {
    // ON DUPLICATE KEY fires on any unique index, not only the primary key. Setting the key to
    // NULL when the clash is with another row's unique column makes that row fail (NOT NULL)
    // instead of silently overwriting the other row, as ON CONFLICT (pk) does elsewhere. MySQL
    // then says "Column '<key>' cannot be null"; refusalProbe finds the real cause.
    const pk = quote(table.primaryKey);
    const set = columns.filter((c) => c !== table.primaryKey).map((c) => `${quote(c)} = VALUES(${quote(c)})`);
    return ` ON DUPLICATE KEY UPDATE ${[`${pk} = IF(${pk} <=> VALUES(${pk}), ${pk}, NULL)`, ...set].join(", ")}`;
  },
  encode(col: AnyColumn, value: unknown): unknown {
    return col.kind === "json" && value !== null ? JSON.stringify(value) : value;
  },
  jsonParsed: false,
  isRowError(error: unknown): boolean {
    const e = error as { sqlState?: unknown; errno?: unknown } | null;
    return isDataSqlState(e?.sqlState) || (typeof e?.errno === "number" && ROW_ERRNOS.has(e.errno));
  },
  refusalProbe(change, error) {
    // An upsert refused with "Column '<key>' cannot be null" clashed with another row on a
    // unique index (upsertClause): NULL is refused before any SQL for every other column, and
    // the key of a row that clashes on the key itself is kept. The same row as a plain INSERT
    // is refused with the real cause: "Duplicate entry 'bob' for key 'players_name_uq'".
    if (change.kind !== "upsert" || (error as { errno?: unknown } | null)?.errno !== ER_BAD_NULL_ERROR) return undefined;
    return valuesInsert(this, change.table, change.columns, [change.values], false);
  },
  async inspect(db: SqlKysely, table: string): Promise<LiveTable | undefined> {
    const cols = await run<{ name: string; type: string; nullable: string }>(
      db,
      "SELECT COLUMN_NAME AS name, DATA_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
      [table],
    );
    if (cols.rows.length === 0) return undefined;
    const stats = await run<{ name: string; non_unique: number | string; col: string }>(
      db,
      "SELECT INDEX_NAME AS name, NON_UNIQUE AS non_unique, COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
      [table],
    );
    return {
      columns: new Map(cols.rows.map((c) => [String(c.name), { type: String(c.type).toLowerCase(), nullable: c.nullable === "YES" }])),
      primaryKey: stats.rows.filter((s) => s.name === "PRIMARY").map((s) => String(s.col)),
      indexes: new Map(stats.rows.filter((s) => s.name !== "PRIMARY").map((s) => [String(s.name), { unique: Number(s.non_unique) === 0 }])),
    };
  },
};

type QueryCallback = (error: unknown, result: MysqlQueryResult) => void;

/** A pooled connection whose every statement carries mysql2's per-query timeout. */
class TimedConnection implements MysqlPoolConnection {
  constructor(
    private readonly raw: mysql.PoolConnection,
    private readonly timeoutMs: number,
  ) {}

  query(sql: string, parameters: unknown[]): { stream: <T>(options: MysqlStreamOptions) => MysqlStream<T> };
  query(sql: string, parameters: unknown[], callback: QueryCallback): void;
  query(sql: string, parameters: unknown[], callback?: QueryCallback): { stream: <T>(options: MysqlStreamOptions) => MysqlStream<T> } | undefined {
    const options = { sql, values: parameters, timeout: this.timeoutMs };
    if (callback === undefined) return this.raw.query(options);
    this.raw.query(options, (error, result) => callback(error, result as MysqlQueryResult));
    return undefined;
  }

  release(): void {
    this.raw.release();
  }
}

export function openMysql(config: ServerConfig): OpenedDriver {
  let pool: mysql.Pool;
  try {
    pool = mysql.createPool({
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      database: config.database,
      charset: config.charset ?? "utf8mb4",
      connectionLimit: config.poolSize,
      queueLimit: config.poolSize * QUEUE_PER_CONNECTION,
      connectTimeout: config.connectTimeoutMs,
      // BIGINT as strings (decoded to bigint, exact), JSON as text (parsed once, the same on MySQL and MariaDB).
      supportBigNumbers: true,
      bigNumberStrings: true,
      jsonStrings: true,
      // DATETIME holds no zone: write and read it as UTC.
      timezone: "Z",
      enableKeepAlive: true,
    });
  } catch (error) {
    // mysql2 checks the charset name here.
    throw new DbConnectError(`cannot open ${config.url}: ${reasonOf(error)}`, { cause: error });
  }
  // Queued on the new connection before any statement of ours.
  pool.on("connection", (connection) => {
    connection.query(SESSION_SQL, (error) => {
      // Without strict mode a bad value would be truncated silently: better no connection.
      if (error) connection.destroy();
    });
  });
  const timed: MysqlPool = {
    getConnection(callback) {
      pool.getConnection((error, connection) => {
        if (error) callback(error, undefined as unknown as MysqlPoolConnection);
        else callback(null, new TimedConnection(connection, config.queryTimeoutMs));
      });
    },
    end(callback) {
      pool.end(callback);
    },
  };
  return { driver: mysqlDriver, kysely: new Kysely<unknown>({ dialect: new MysqlDialect({ pool: timed }) }) };
}
