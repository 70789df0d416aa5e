/**
 * openDatabase: db settings → a connected Database, the one object game code and the entity
 * cache use for SQL. A node owns its Database; nothing here is global.
 */
import type { Logger } from "../../log/logger.ts";
import { parseDbConfig, type DbConfig, type SqlConfigInput, type SqlDialect } from "./config.ts";
import { run, withTimeout, type OpenedDriver, type SqlDriver, type SqlKysely } from "./driver.ts";
import { DbConnectError, reasonOf } from "./errors.ts";
import { openMysql } from "./mysql.ts";
import { openPostgres } from "./postgres.ts";
import { applyBatch, getByIndex, getRows, type BatchResult, type ChangeOf, type GetByIndexOptions, type TableChangeOf } from "./rows.ts";
import { openSqlite } from "./sqlite.ts";
import type { AnyTable, PkOf, RowOf } from "./table.ts";

export interface OpenDatabaseOptions {
  /** Where a relative SQLite path is resolved (the app's data folder). Default: the working directory. */
  dataDir?: string;
  /** Where connection trouble outside any call (an idle connection breaking) is reported. */
  logger?: Logger;
}

/** How long close() waits for the pool to end before giving up on it. */
const CLOSE_TIMEOUT_MS = 5000;
/** Slack given to the driver's own connect timeout, so its (more precise) error wins the race. */
const CONNECT_SLACK_MS = 1000;

export class Database {
  readonly dialect: SqlDialect;
  /** Kysely for queries the operations below do not cover: `db.kysely.withTables<{ players: RowOf<typeof Players> }>()`. */
  readonly kysely: SqlKysely;
  /** The driver behind this database (for syncSchema and rows; not needed by game code). */
  readonly driver: SqlDriver;
  private closing: Promise<void> | undefined;

  constructor(
    readonly config: DbConfig,
    opened: OpenedDriver,
  ) {
    this.dialect = config.dialect;
    this.kysely = opened.kysely;
    this.driver = opened.driver;
  }

  /** A round trip to the database, bounded by the connect timeout. */
  async ping(): Promise<void> {
    const ms = this.config.connectTimeoutMs + CONNECT_SLACK_MS;
    await withTimeout(run(this.kysely, "SELECT 1"), ms, () => `no answer within ${ms} ms`);
  }

  /** End the pool (or close the SQLite file). Safe to call twice. */
  async close(): Promise<void> {
    this.closing ??= withTimeout(this.kysely.destroy(), CLOSE_TIMEOUT_MS, () => `${this.config.url}: pool did not end within ${CLOSE_TIMEOUT_MS} ms`);
    await this.closing;
  }

  /** Rows by primary key, in one query per few thousand keys. Keys not found are absent from the map. */
  async getRows<T extends AnyTable>(table: T, pks: readonly PkOf<T>[]): Promise<Map<PkOf<T>, RowOf<T>>> {
    return getRows(this, table, pks);
  }

  /** Rows whose `column` equals `value` (null matches NULL); the column must lead an index or be the primary key. */
  async getByIndex<T extends AnyTable, C extends keyof RowOf<T> & string>(table: T, column: C, value: RowOf<T>[C], options?: GetByIndexOptions): Promise<RowOf<T>[]> {
    return getByIndex(this, table, column, value, options);
  }

  /** Apply changes in one transaction; rows the database refuses are isolated and reported. See rows.ts. */
  async applyBatch<T extends AnyTable>(table: T, changes: readonly ChangeOf<T>[]): Promise<BatchResult<ChangeOf<T>>>;
  async applyBatch<const Ts extends readonly AnyTable[]>(tables: Ts, changes: readonly TableChangeOf<Ts>[]): Promise<BatchResult<TableChangeOf<Ts>>>;
  async applyBatch(tables: AnyTable | readonly AnyTable[], changes: readonly ChangeOf<AnyTable>[] | readonly TableChangeOf<readonly AnyTable[]>[]): Promise<BatchResult<unknown>> {
    return applyBatch(this, tables, changes);
  }
}

function describe(config: DbConfig): string {
  return config.dialect === "sqlite" ? `sqlite ${config.file}` : `${config.dialect} at ${config.host}:${config.port} (database "${config.database}", user "${config.user}")`;
}

/**
 * Parse the settings (unless already parsed), connect and check with one round trip. Rejects
 * with DbConfigError for bad settings and DbConnectError (host, port, cause) when the database
 * does not answer within the connect timeout; never hangs.
 */
export async function openDatabase(settings: DbConfig | SqlConfigInput, options: OpenDatabaseOptions = {}): Promise<Database> {
  const config = typeof settings === "object" && "dialect" in settings ? settings : parseDbConfig(settings, { dataDir: options.dataDir });
  const onIdleError = (error: Error): void => options.logger?.warn("db: a pooled connection failed while idle", { db: config.url, reason: reasonOf(error) });
  const opened =
    config.dialect === "sqlite" ? openSqlite(config) : config.dialect === "postgres" ? openPostgres(config, onIdleError) : openMysql(config);
  const db = new Database(config, opened);
  try {
    await db.ping();
  } catch (error) {
    await db.close().catch(() => undefined);
    throw new DbConnectError(`cannot connect to ${describe(config)}: ${reasonOf(error)}`, { cause: error });
  }
  return db;
}
