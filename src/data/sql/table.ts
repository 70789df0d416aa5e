/**
 * Table declarations: game code declares a table once, and the declaration types every read
 * and write (`RowOf<typeof Players>`) and checks every row at run time before SQL is sent.
 *
 * ```ts
 * export const Players = defineTable("players", {
 *   columns: {
 *     id: column.bigint(),
 *     name: column.text({ maxLength: 32 }),
 *     level: column.integer().default(1),
 *     guild: column.integer().nullable(),
 *   },
 *   primaryKey: "id",
 *   indexes: [{ columns: ["name"], unique: true }, { columns: ["guild"] }],
 * });
 * ```
 *
 * The primary key is one column (integer, bigint or text) whose value the game supplies: there
 * is no auto-increment, because a write-back cache must know a row's key before it is written.
 */
import {
  DEFAULTABLE_KINDS,
  INDEXABLE_KINDS,
  MAX_TEXT_LENGTH,
  PRIMARY_KEY_KINDS,
  valueProblem,
  type AnyColumn,
  type Column,
  type ColumnKind,
} from "./columns.ts";
import { RowValidationError, TableDefinitionError } from "./errors.ts";

export type ColumnMap = Record<string, AnyColumn>;

export interface IndexSpec<C extends string = string> {
  columns: readonly C[];
  unique?: boolean;
  /** Default `<table>_<columns>_idx` (or `_uq` when unique). */
  name?: string;
}

export interface IndexDef {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique: boolean;
}

export interface TableDef<Name extends string = string, Cols extends ColumnMap = ColumnMap, Pk extends string = string> {
  readonly name: Name;
  readonly columns: Cols;
  readonly primaryKey: Pk;
  readonly indexes: readonly IndexDef[];
  /** Column names in declaration order. */
  readonly columnNames: readonly string[];
  /** Columns an insert must give: not nullable and without a default. */
  readonly requiredColumns: readonly string[];
}

export type AnyTable = TableDef;

type ValueOf<C> = C extends Column<ColumnKind, infer T, infer N> ? (N extends true ? T | null : T) : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<Cols> = { [K in keyof Cols]: Cols[K] extends Column<ColumnKind, unknown, false, false> ? K : never }[keyof Cols];

/** A row as read: every column, `null` where nullable. */
export type RowOf<T extends AnyTable> = Simplify<{ [K in keyof T["columns"]]: ValueOf<T["columns"][K]> }>;

/** A row to insert or upsert: nullable and defaulted columns may be left out. */
export type InsertOf<T extends AnyTable> = Simplify<
  { [K in RequiredKeys<T["columns"]>]: ValueOf<T["columns"][K]> } & {
    [K in Exclude<keyof T["columns"], RequiredKeys<T["columns"]>>]?: ValueOf<T["columns"][K]>;
  }
>;

/** The columns an update writes (never the primary key). */
export type PatchOf<T extends AnyTable> = Partial<Omit<RowOf<T>, T["primaryKey"]>>;

/** The primary key's value type. */
export type PkOf<T extends AnyTable> = RowOf<T>[T["primaryKey"]];

type PkColumns<Cols> = {
  [K in keyof Cols]: Cols[K] extends Column<"integer" | "bigint" | "text", unknown, false> ? K : never;
}[keyof Cols] &
  string;

export interface TableSpec<Cols extends ColumnMap, Pk extends string> {
  columns: Cols;
  /** One column: integer, bigint or text, not nullable. Composite keys are not supported. */
  primaryKey: Pk;
  indexes?: readonly IndexSpec<keyof Cols & string>[];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** PostgreSQL cuts identifiers at 63 bytes; MySQL at 64. */
const MAX_IDENTIFIER = 63;

function checkIdentifier(name: string, what: string): void {
  if (!IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER) {
    throw new TableDefinitionError(`${what} "${name}": expected letters, digits and _ (not first), at most ${MAX_IDENTIFIER} characters`);
  }
}

/** Declare a table. Throws TableDefinitionError when the declaration cannot work on every dialect. */
export function defineTable<const Name extends string, Cols extends ColumnMap, Pk extends PkColumns<Cols>>(
  name: Name,
  spec: TableSpec<Cols, Pk>,
): TableDef<Name, Cols, Pk> {
  checkIdentifier(name, "table");
  const columnNames = Object.keys(spec.columns);
  if (columnNames.length === 0) throw new TableDefinitionError(`table "${name}": declares no columns`);
  for (const columnName of columnNames) {
    checkIdentifier(columnName, `table "${name}": column`);
    checkColumn(name, columnName, spec.columns[columnName] as AnyColumn);
  }
  const pk: AnyColumn | undefined = spec.columns[spec.primaryKey];
  if (pk === undefined) throw new TableDefinitionError(`table "${name}": primary key "${spec.primaryKey}" is not one of its columns (${columnNames.join(", ")})`);
  if (!PRIMARY_KEY_KINDS.has(pk.kind) || pk.isNullable || pk.hasDefault) {
    throw new TableDefinitionError(`table "${name}": primary key "${spec.primaryKey}" must be an integer, bigint or text column, not nullable and without a default`);
  }
  const indexes = (spec.indexes ?? []).map((index) => indexDef(name, spec.columns, index));
  const names = new Set<string>();
  for (const index of indexes) {
    if (names.has(index.name)) throw new TableDefinitionError(`table "${name}": two indexes are named "${index.name}"`);
    names.add(index.name);
  }
  const requiredColumns = columnNames.filter((c) => !(spec.columns[c] as AnyColumn).isNullable && !(spec.columns[c] as AnyColumn).hasDefault);
  return { name, columns: spec.columns, primaryKey: spec.primaryKey, indexes, columnNames, requiredColumns };
}

function checkColumn(table: string, name: string, col: AnyColumn): void {
  const at = `table "${table}": column "${name}"`;
  if (col.maxLength !== undefined && (!Number.isInteger(col.maxLength) || col.maxLength < 1 || col.maxLength > MAX_TEXT_LENGTH)) {
    throw new TableDefinitionError(`${at}: maxLength must be an integer from 1 to ${MAX_TEXT_LENGTH}`);
  }
  if (!col.hasDefault) return;
  if (!DEFAULTABLE_KINDS.has(col.kind)) throw new TableDefinitionError(`${at}: a ${col.kind} column cannot have a default; set the value in code`);
  const problem = col.defaultValue === null ? (col.isNullable ? undefined : "null default on a not-null column") : valueProblem(col, col.defaultValue);
  if (problem !== undefined) throw new TableDefinitionError(`${at}: bad default: ${problem}`);
}

function indexDef(table: string, columns: ColumnMap, index: IndexSpec): IndexDef {
  if (index.columns.length === 0) throw new TableDefinitionError(`table "${table}": an index lists no columns`);
  for (const c of index.columns) {
    const col = columns[c];
    if (col === undefined) throw new TableDefinitionError(`table "${table}": index column "${c}" is not one of its columns`);
    if (!INDEXABLE_KINDS.has(col.kind)) throw new TableDefinitionError(`table "${table}": index column "${c}" is ${col.kind}, which cannot be indexed on every dialect`);
  }
  const unique = index.unique ?? false;
  const name = index.name ?? `${table}_${index.columns.join("_")}_${unique ? "uq" : "idx"}`;
  if (!IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER) {
    throw new TableDefinitionError(`table "${table}": index name "${name}" is not a valid identifier of at most ${MAX_IDENTIFIER} characters; give the index a shorter name`);
  }
  return { name, columns: [...index.columns], unique };
}

// ---------------------------------------------------------------------------------------------
// Run-time validation (before any SQL is sent)

/** Why `value` cannot go in column `name` (unknown column, wrong type, null in a not-null column), or undefined. */
export function columnProblem(table: AnyTable, name: string, value: unknown): string | undefined {
  const col = table.columns[name];
  if (col === undefined) return `unknown column "${name}" (columns: ${table.columnNames.join(", ")})`;
  if (value === null) return col.isNullable ? undefined : `column "${name}": null in a not-null column`;
  const problem = valueProblem(col, value);
  return problem === undefined ? undefined : `column "${name}": ${problem}`;
}

function objectProblems(table: AnyTable, value: unknown, what: string): string[] | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [`expected ${what} object, received ${value === null ? "null" : typeof value}`];
  return undefined;
}

/** Problems with a full row (insert or upsert): unknown columns, wrong types, nulls, missing required columns. */
export function rowProblems(table: AnyTable, row: unknown): string[] {
  const bad = objectProblems(table, row, "a row");
  if (bad !== undefined) return bad;
  const record = row as Record<string, unknown>;
  const problems: string[] = [];
  for (const name in record) {
    const value = record[name];
    if (value === undefined) continue;
    const problem = columnProblem(table, name, value);
    if (problem !== undefined) problems.push(problem);
  }
  for (const name of table.requiredColumns) {
    if (record[name] === undefined) problems.push(`missing column "${name}" (not null, no default)`);
  }
  return problems;
}

/** Problems with the columns of an update. */
export function patchProblems(table: AnyTable, patch: unknown): string[] {
  const bad = objectProblems(table, patch, "a columns");
  if (bad !== undefined) return bad;
  const problems: string[] = [];
  let count = 0;
  for (const [name, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === undefined) continue;
    count++;
    if (name === table.primaryKey) problems.push(`column "${name}" is the primary key; an update cannot change it (delete and insert instead)`);
    else {
      const problem = columnProblem(table, name, value);
      if (problem !== undefined) problems.push(problem);
    }
  }
  if (count === 0 && problems.length === 0) problems.push("an update with no columns");
  return problems;
}

/** Problems with a primary key value. */
export function pkProblems(table: AnyTable, pk: unknown): string[] {
  const col = table.columns[table.primaryKey] as AnyColumn;
  const problem = pk === null || pk === undefined ? `expected a value, received ${String(pk)}` : valueProblem(col, pk);
  return problem === undefined ? [] : [`primary key "${table.primaryKey}": ${problem}`];
}

/** Throw RowValidationError unless `row` fits `table` as an insert or upsert. */
export function assertRow<T extends AnyTable>(table: T, row: unknown): asserts row is InsertOf<T> {
  const problems = rowProblems(table, row);
  if (problems.length > 0) throw new RowValidationError(table.name, problems);
}

/** Throw RowValidationError unless `patch` fits `table` as the columns of an update. */
export function assertPatch<T extends AnyTable>(table: T, patch: unknown): asserts patch is PatchOf<T> {
  const problems = patchProblems(table, patch);
  if (problems.length > 0) throw new RowValidationError(table.name, problems);
}
