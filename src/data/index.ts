/** Data: SQL backends and table declarations (the entity cache and write-back journal build on these). */
export { parseDbConfig, DB_DEFAULTS, type DbConfig, type SqlConfigInput, type DbUrlSettings, type ParseDbConfigOptions, type ServerConfig, type SqliteConfig, type SqlDialect } from "./sql/config.ts";
export { column, Column, type AnyColumn, type ColumnKind, type JsonValue, type KindValues } from "./sql/columns.ts";
export {
  defineTable,
  assertRow,
  assertPatch,
  rowProblems,
  patchProblems,
  pkProblems,
  type AnyTable,
  type ColumnMap,
  type IndexDef,
  type IndexSpec,
  type InsertOf,
  type PatchOf,
  type PkOf,
  type RowOf,
  type TableDef,
  type TableSpec,
} from "./sql/table.ts";
export { openDatabase, Database, type OpenDatabaseOptions } from "./sql/database.ts";
export { syncSchema, type SchemaReport } from "./sql/schema.ts";
export type { BatchResult, ChangeOf, GetByIndexOptions, RejectedChange, TableChangeOf } from "./sql/rows.ts";
export type { SqlKysely } from "./sql/driver.ts";
export { BatchFailedError, ChangeRejectedError, DbConfigError, DbConnectError, RowValidationError, SchemaError, TableDefinitionError } from "./sql/errors.ts";
export { Journal, JournalBackpressureError, JournalClosedError, JournalCorruptError, JournalLockedError, JournalWriteError, type JournalOptions, type JournalRecord, type JournalStatus, type FsyncPolicy } from "./journal/index.ts";
export { EntityCache, CacheBackpressureError, TableCache, EntityExistsError, EntityNotFoundError, RedisOwnership, OwnershipTimeoutError, HeldLeases, type EntityCacheOptions, type EntityCacheStats, type Ownership, type RedisOwnershipOptions } from "./cache/index.ts";
