/**
 * Changes → SQL statements. Consecutive inserts (or upserts) of one table with the same
 * columns become one multi-row statement; consecutive deletes of one table one `IN (…)`;
 * each update is its own statement (it writes only its own columns). Order is kept, so a
 * later change in a batch sees the earlier ones.
 */
import type { SqlDriver } from "./driver.ts";
import type { AnyTable } from "./table.ts";

/** A validated change with its values encoded for the driver. */
export interface PreparedChange {
  /** Position in the caller's batch. */
  index: number;
  table: AnyTable;
  kind: "insert" | "upsert" | "update" | "delete";
  /** The primary key as given (for grouping) and encoded (for SQL). */
  pk: unknown;
  encodedPk: unknown;
  /** insert/upsert/update: the columns written, and their encoded values in that order. */
  columns: readonly string[];
  values: readonly unknown[];
  /** `columns` joined: changes with equal signatures can share one INSERT. */
  signature: string;
}

export interface Statement {
  text: string;
  params: unknown[];
}

/** Cap on rows per multi-row INSERT, below every dialect's parameter limit for narrow tables, and bounding packet size. */
const MAX_ROWS_PER_STATEMENT = 500;
/** Keys per `IN (…)` list. */
export const MAX_KEYS_PER_STATEMENT = 1000;

export function placeholders(driver: SqlDriver, from: number, count: number): string {
  const out: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = driver.placeholder(from + i);
  return out.join(", ");
}

function insertStatement(driver: SqlDriver, rows: readonly PreparedChange[]): Statement {
  const first = rows[0] as PreparedChange;
  const width = first.columns.length;
  const params: unknown[] = [];
  const tuples: string[] = [];
  for (const row of rows) {
    tuples.push(`(${placeholders(driver, params.length + 1, width)})`);
    for (const value of row.values) params.push(value);
  }
  const head = `INSERT INTO ${driver.quote(first.table.name)} (${first.columns.map((c) => driver.quote(c)).join(", ")}) VALUES ${tuples.join(", ")}`;
  return { text: first.kind === "upsert" ? head + driver.upsertClause(first.table, first.columns) : head, params };
}

function updateStatement(driver: SqlDriver, change: PreparedChange): Statement {
  const set = change.columns.map((c, i) => `${driver.quote(c)} = ${driver.placeholder(i + 1)}`).join(", ");
  const where = `${driver.quote(change.table.primaryKey)} = ${driver.placeholder(change.columns.length + 1)}`;
  return { text: `UPDATE ${driver.quote(change.table.name)} SET ${set} WHERE ${where}`, params: [...change.values, change.encodedPk] };
}

function deleteStatement(driver: SqlDriver, changes: readonly PreparedChange[]): Statement {
  const table = (changes[0] as PreparedChange).table;
  return {
    text: `DELETE FROM ${driver.quote(table.name)} WHERE ${driver.quote(table.primaryKey)} IN (${placeholders(driver, 1, changes.length)})`,
    params: changes.map((c) => c.encodedPk),
  };
}

/** How many changes from `start` can share one statement with `changes[start]`. */
function runLength(driver: SqlDriver, changes: readonly PreparedChange[], start: number): number {
  const first = changes[start] as PreparedChange;
  if (first.kind === "update") return 1;
  const limit =
    first.kind === "delete" ? MAX_KEYS_PER_STATEMENT : Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(driver.maxParams / first.columns.length)));
  // PostgreSQL refuses an upsert that touches one row twice; deleting a key twice is harmless but pointless.
  const keys = first.kind === "insert" ? undefined : new Set<unknown>([first.pk]);
  let end = start + 1;
  while (end < changes.length && end - start < limit) {
    const next = changes[end] as PreparedChange;
    if (next.kind !== first.kind || next.table !== first.table || next.signature !== first.signature) break;
    if (keys !== undefined) {
      if (keys.has(next.pk)) break;
      keys.add(next.pk);
    }
    end++;
  }
  return end - start;
}

/** The statements that apply `changes` in order. */
export function* statementsFor(driver: SqlDriver, changes: readonly PreparedChange[]): Generator<Statement> {
  let start = 0;
  while (start < changes.length) {
    const count = runLength(driver, changes, start);
    const first = changes[start] as PreparedChange;
    const group = changes.slice(start, start + count);
    if (first.kind === "update") yield updateStatement(driver, first);
    else if (first.kind === "delete") yield deleteStatement(driver, group);
    else yield insertStatement(driver, group);
    start += count;
  }
}
