/**
 * Column types: a small set that maps honestly onto SQLite, PostgreSQL and MySQL/MariaDB
 * (the mapping per dialect is in dialect.ts and docs/data.md), each with its JS type and a
 * check that a value fits it.
 */

export type ColumnKind = "integer" | "bigint" | "real" | "text" | "boolean" | "json" | "bytes" | "timestamp";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The JS type of each column kind. */
export interface KindValues {
  /** 32-bit signed integer. */
  integer: number;
  /** 64-bit signed integer. */
  bigint: bigint;
  /** Double-precision float; NaN and ±Infinity are refused (not portable). */
  real: number;
  text: string;
  boolean: boolean;
  json: JsonValue;
  bytes: Uint8Array;
  /** Millisecond precision, stored as UTC. */
  timestamp: Date;
}

/** Kinds a primary key or an index may use (MySQL cannot index JSON or unbounded blobs). */
export const INDEXABLE_KINDS: ReadonlySet<ColumnKind> = new Set(["integer", "bigint", "real", "text", "boolean", "timestamp"]);
export const PRIMARY_KEY_KINDS: ReadonlySet<ColumnKind> = new Set(["integer", "bigint", "text"]);
/** Kinds whose default can be written as a DDL literal on every dialect. */
export const DEFAULTABLE_KINDS: ReadonlySet<ColumnKind> = new Set(["integer", "bigint", "real", "text", "boolean", "json"]);

/** The longest text maxLength: MySQL's VARCHAR holds at most 16383 utf8mb4 characters. */
export const MAX_TEXT_LENGTH = 16383;

/**
 * One column of a table declaration. Immutable: `nullable()` and `default()` return a new
 * column, so that the row type follows the declaration (`T | null` when nullable, optional
 * in inserts when nullable or defaulted).
 */
export class Column<K extends ColumnKind = ColumnKind, T = unknown, N extends boolean = boolean, D extends boolean = boolean> {
  /** Type-level only: the JS type of the column's values. */
  declare readonly valueType: T;

  constructor(
    readonly kind: K,
    readonly isNullable: N,
    readonly hasDefault: D,
    readonly defaultValue: T | undefined,
    /** text only: the most characters a value may have (also the VARCHAR length on MySQL). */
    readonly maxLength: number | undefined,
  ) {}

  /** Allow NULL (read as `null`); an insert may leave the column out. */
  nullable(): Column<K, T, true, D> {
    return new Column(this.kind, true, this.hasDefault, this.defaultValue, this.maxLength);
  }

  /** The value rows get when an insert leaves the column out. Also lets syncSchema add it to a filled table. */
  default(value: T): Column<K, T, N, true> {
    return new Column(this.kind, this.isNullable, true, value, this.maxLength);
  }
}

export type AnyColumn = Column;

function make<K extends ColumnKind, T = KindValues[K]>(kind: K, maxLength?: number): Column<K, T, false, false> {
  return new Column<K, T, false, false>(kind, false, false, undefined, maxLength);
}

/** Column builders: `column.integer()`, `column.text({ maxLength: 32 }).nullable()`, `column.json<Bag>().default({ items: [] })`. */
export const column = {
  integer: () => make("integer"),
  bigint: () => make("bigint"),
  real: () => make("real"),
  text: (options: { maxLength?: number } = {}) => make("text", options.maxLength),
  boolean: () => make("boolean"),
  /** `T` is the stored shape; it is not checked deeply at run time, only that the value is JSON. */
  json: <T = JsonValue>() => make<"json", T>("json"),
  bytes: () => make("bytes"),
  timestamp: () => make("timestamp"),
};

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function received(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a Date";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "number" || typeof value === "bigint") return `${typeof value} ${String(value)}`;
  return typeof value;
}

function isJson(value: unknown, depth: number): boolean {
  if (depth > 64) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      if (value === null) return true;
      if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return false;
      return Object.values(value).every((v) => isJson(v, depth + 1));
    default:
      return false;
  }
}

/**
 * Why `value` does not fit a column of `kind` (undefined if it fits). Null is not handled here:
 * whether a column takes null is the caller's question.
 */
export function valueProblem(col: AnyColumn, value: unknown): string | undefined {
  switch (col.kind) {
    case "integer":
      return Number.isInteger(value) && (value as number) >= INT32_MIN && (value as number) <= INT32_MAX
        ? undefined
        : `expected a 32-bit integer, received ${received(value)}`;
    case "bigint":
      return typeof value === "bigint" && value >= INT64_MIN && value <= INT64_MAX ? undefined : `expected a 64-bit bigint, received ${received(value)}`;
    case "real":
      return typeof value === "number" && Number.isFinite(value) ? undefined : `expected a finite number, received ${received(value)}`;
    case "text":
      if (typeof value !== "string") return `expected a string, received ${received(value)}`;
      // Characters, as SQL counts them: code points, not UTF-16 units (counted only when it could matter).
      if (col.maxLength !== undefined && value.length > col.maxLength && [...value].length > col.maxLength) {
        return `expected at most ${col.maxLength} characters, received ${[...value].length}`;
      }
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : `expected a boolean, received ${received(value)}`;
    case "json":
      return isJson(value, 0) ? undefined : `expected a JSON value (plain objects, arrays, strings, finite numbers, booleans, null), received ${received(value)}`;
    case "bytes":
      return value instanceof Uint8Array ? undefined : `expected a Uint8Array or Buffer, received ${received(value)}`;
    case "timestamp":
      return value instanceof Date && !Number.isNaN(value.getTime()) ? undefined : `expected a valid Date, received ${received(value)}`;
  }
}
