/**
 * Changes → SQL statements. Consecutive changes of one kind and table that write the same
 * columns share one statement: a multi-row INSERT (or upsert), a multi-row UPDATE by key, or
 * one `DELETE … IN (…)`. Order is kept, so a later change in a batch sees the earlier ones.
 */
import { placeholders, type SqlDriver, type Statement } from "./driver.ts";
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
  /** `columns` joined: changes with equal signatures can share one statement. */
  signature: string;
}

/** Keys per `IN (…)` list. */
export const MAX_KEYS_PER_STATEMENT = 1000;

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
  const limit = first.kind === "delete" ? MAX_KEYS_PER_STATEMENT : driver.rowsPerStatement(first.columns.length + 1);
  // One statement must not touch a row twice: PostgreSQL refuses such an upsert, and a
  // multi-row UPDATE would apply only one of the two. Inserts of a repeated key fail anyway.
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
    const group = changes.slice(start, start + count);
    const first = group[0] as PreparedChange;
    if (first.kind === "delete") yield deleteStatement(driver, group);
    else if (first.kind === "update") yield driver.updateRows(first.table, first.columns, group.map((c) => [c.encodedPk, ...c.values]));
    else
      yield driver.insertRows(
        first.table,
        first.columns,
        group.map((c) => c.values),
        first.kind === "upsert",
      );
    start += count;
  }
}
