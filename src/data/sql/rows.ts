/**
 * The row operations a write-back cache needs, generic over a table declaration: read by
 * primary keys or by an indexed column, and apply a batch of changes in one transaction.
 *
 * applyBatch guarantees:
 * - every change is validated against its declaration first; an invalid one is rejected
 *   (RowValidationError) and never sent;
 * - the valid changes run in order in one transaction; if the database refuses one of them
 *   (constraint violation, value out of range), the batch is redone isolating changes (binary
 *   split under savepoints): every good change lands, each refused one is reported once with
 *   the database's reason (ChangeRejectedError), nothing is retried further;
 * - any other failure (connection lost, timeout, deadlock) rolls everything back and throws
 *   BatchFailedError: nothing was applied, the caller may retry the whole batch;
 * - an upsert writes exactly the columns it gives, so replaying a batch of upserts leaves the
 *   same rows; updates and deletes of missing keys are not errors (they change nothing).
 */
import { decodeValue, placeholders, run, type SqlDriver, type SqlKysely } from "./driver.ts";
import { BatchFailedError, ChangeRejectedError, RowValidationError, TableDefinitionError, reasonOf } from "./errors.ts";
import { MAX_KEYS_PER_STATEMENT, statementsFor, type PreparedChange } from "./statements.ts";
import { columnProblem, patchProblems, pkProblems, rowProblems, type AnyTable, type InsertOf, type PatchOf, type PkOf, type RowOf } from "./table.ts";
import type { AnyColumn } from "./columns.ts";

/** What the operations need of a database. */
export interface SqlContext {
  readonly driver: SqlDriver;
  readonly kysely: SqlKysely;
}

export type ChangeOf<T extends AnyTable> =
  | { kind: "insert"; row: InsertOf<T> }
  | { kind: "upsert"; row: InsertOf<T> }
  | { kind: "update"; pk: PkOf<T>; columns: PatchOf<T> }
  | { kind: "delete"; pk: PkOf<T> };

/** A change of a batch over several tables: it names its table. */
export type TableChangeOf<Ts extends readonly AnyTable[]> = {
  [I in keyof Ts]: Ts[I] extends AnyTable ? ChangeOf<Ts[I]> & { table: Ts[I]["name"] } : never;
}[number];

export interface RejectedChange<C> {
  change: C;
  /** RowValidationError (never sent) or ChangeRejectedError (the database's reason). */
  error: Error;
}

export interface BatchResult<C> {
  /** Changes that were applied (an update or delete of a missing key counts: it ran). */
  applied: number;
  /** In batch order. */
  rejected: RejectedChange<C>[];
}

export interface GetByIndexOptions {
  /** At most this many rows (ordered by primary key). Default 10000. */
  limit?: number;
}

const DEFAULT_INDEX_LIMIT = 10_000;
const SAVEPOINT = "glowfly_batch";

function selectList(driver: SqlDriver, table: AnyTable): string {
  return table.columnNames.map((c) => driver.quote(c)).join(", ");
}

function decodeRow<T extends AnyTable>(driver: SqlDriver, table: T, raw: Record<string, unknown>): RowOf<T> {
  const row: Record<string, unknown> = {};
  for (const name of table.columnNames) row[name] = decodeValue(driver, table.columns[name] as AnyColumn, raw[name]);
  return row as RowOf<T>;
}

function pkColumn(table: AnyTable): AnyColumn {
  return table.columns[table.primaryKey] as AnyColumn;
}

export async function getRows<T extends AnyTable>(ctx: SqlContext, table: T, pks: readonly PkOf<T>[]): Promise<Map<PkOf<T>, RowOf<T>>> {
  const keys = [...new Set(pks)];
  const problems = keys.flatMap((pk) => pkProblems(table, pk));
  if (problems.length > 0) throw new RowValidationError(table.name, problems);
  const { driver } = ctx;
  const found = new Map<PkOf<T>, RowOf<T>>();
  const head = `SELECT ${selectList(driver, table)} FROM ${driver.quote(table.name)} WHERE ${driver.quote(table.primaryKey)} IN `;
  for (let start = 0; start < keys.length; start += MAX_KEYS_PER_STATEMENT) {
    const chunk = keys.slice(start, start + MAX_KEYS_PER_STATEMENT);
    const result = await run(ctx.kysely, `${head}(${placeholders(driver, 1, chunk.length)})`, chunk.map((pk) => driver.encode(pkColumn(table), pk)));
    for (const raw of result.rows) {
      const row = decodeRow(driver, table, raw);
      found.set(row[table.primaryKey] as PkOf<T>, row);
    }
  }
  return found;
}

export async function getByIndex<T extends AnyTable, C extends keyof RowOf<T> & string>(
  ctx: SqlContext,
  table: T,
  column: C,
  value: RowOf<T>[C],
  options: GetByIndexOptions = {},
): Promise<RowOf<T>[]> {
  // Only indexed columns: a lookup that scans the whole table should be a deliberate Kysely query.
  if (column !== table.primaryKey && !table.indexes.some((i) => i.columns[0] === column)) {
    throw new TableDefinitionError(`${table.name}: column "${column}" leads no index; declare one in indexes to look rows up by it`);
  }
  const problem = columnProblem(table, column, value);
  if (problem !== undefined) throw new RowValidationError(table.name, [problem]);
  const limit = options.limit ?? DEFAULT_INDEX_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`getByIndex: limit must be a positive integer, received ${limit}`);
  const { driver } = ctx;
  const col = driver.quote(column);
  const where = value === null ? `${col} IS NULL` : `${col} = ${driver.placeholder(1)}`;
  const params = value === null ? [limit] : [driver.encode(table.columns[column] as AnyColumn, value), limit];
  const text = `SELECT ${selectList(driver, table)} FROM ${driver.quote(table.name)} WHERE ${where} ORDER BY ${driver.quote(table.primaryKey)} LIMIT ${driver.placeholder(params.length)}`;
  const result = await run(ctx.kysely, text, params);
  return result.rows.map((raw) => decodeRow(driver, table, raw));
}

// ---------------------------------------------------------------------------------------------
// applyBatch

type AnyChange = ChangeOf<AnyTable> & { table?: string };

/** The given (not undefined) columns of `record` among `names`, their encoded values, and their signature. One pass: this runs per row. */
function encodeColumns(driver: SqlDriver, table: AnyTable, record: Record<string, unknown>, names: readonly string[]): Pick<PreparedChange, "columns" | "values" | "signature"> {
  const columns: string[] = [];
  const values: unknown[] = [];
  let signature = "";
  for (const name of names) {
    const value = record[name];
    if (value === undefined) continue;
    columns.push(name);
    values.push(driver.encode(table.columns[name] as AnyColumn, value));
    signature += signature === "" ? name : `,${name}`;
  }
  return { columns, values, signature };
}

function prepare(driver: SqlDriver, table: AnyTable, change: AnyChange, index: number): PreparedChange | string[] {
  switch (change.kind) {
    case "insert":
    case "upsert": {
      const problems = rowProblems(table, change.row);
      if (problems.length > 0) return problems;
      const { columns, values, signature } = encodeColumns(driver, table, change.row, table.columnNames);
      const pk = (change.row as Record<string, unknown>)[table.primaryKey];
      return { index, table, kind: change.kind, pk, encodedPk: driver.encode(pkColumn(table), pk), columns, values, signature };
    }
    case "update": {
      const problems = [...pkProblems(table, change.pk), ...patchProblems(table, change.columns)];
      if (problems.length > 0) return problems;
      const { columns, values, signature } = encodeColumns(driver, table, change.columns, Object.keys(change.columns));
      return { index, table, kind: "update", pk: change.pk, encodedPk: driver.encode(pkColumn(table), change.pk), columns, values, signature };
    }
    case "delete": {
      const problems = pkProblems(table, change.pk);
      if (problems.length > 0) return problems;
      return { index, table, kind: "delete", pk: change.pk, encodedPk: driver.encode(pkColumn(table), change.pk), columns: [], values: [], signature: "" };
    }
    default:
      return [`unknown change kind ${JSON.stringify((change as { kind?: unknown }).kind)}; expected insert, update, upsert or delete`];
  }
}

async function runAll(db: SqlKysely, driver: SqlDriver, changes: readonly PreparedChange[]): Promise<void> {
  for (const statement of statementsFor(driver, changes)) await run(db, statement.text, statement.params);
}

/** Apply `changes` under a savepoint; on a row error undo them and retry each half, down to single changes. */
async function isolate(db: SqlKysely, driver: SqlDriver, changes: readonly PreparedChange[], refused: Map<number, Error>): Promise<void> {
  await run(db, `SAVEPOINT ${SAVEPOINT}`);
  try {
    await runAll(db, driver, changes);
    await run(db, `RELEASE SAVEPOINT ${SAVEPOINT}`);
    return;
  } catch (error) {
    if (!driver.isRowError(error)) throw error;
    await run(db, `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    await run(db, `RELEASE SAVEPOINT ${SAVEPOINT}`);
    if (changes.length === 1) {
      const change = changes[0] as PreparedChange;
      refused.set(change.index, new ChangeRejectedError(await realReason(db, driver, change, error)));
      return;
    }
  }
  const half = changes.length >>> 1;
  await isolate(db, driver, changes.slice(0, half), refused);
  await isolate(db, driver, changes.slice(half), refused);
}

/** The error to report for a change refused on its own: the driver's probe may name the cause better (MySQL upserts). */
async function realReason(db: SqlKysely, driver: SqlDriver, change: PreparedChange, error: unknown): Promise<unknown> {
  const probe = driver.refusalProbe?.(change, error);
  if (probe === undefined) return error;
  let reason = error;
  await run(db, `SAVEPOINT ${SAVEPOINT}`);
  try {
    await run(db, probe.text, probe.params);
  } catch (probeError) {
    if (!driver.isRowError(probeError)) throw probeError;
    reason = probeError;
  }
  // Whatever the probe did (normally nothing: it was refused) is undone.
  await run(db, `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
  await run(db, `RELEASE SAVEPOINT ${SAVEPOINT}`);
  return reason;
}

function tableLookup(tables: AnyTable | readonly AnyTable[]): (change: AnyChange) => AnyTable | string {
  if (!Array.isArray(tables)) return () => tables as AnyTable;
  const byName = new Map((tables as readonly AnyTable[]).map((t) => [t.name, t]));
  return (change) => byName.get(change.table ?? "") ?? `unknown table ${JSON.stringify(change.table)}; this batch covers ${[...byName.keys()].join(", ")}`;
}

export async function applyBatch<C>(ctx: SqlContext, tables: AnyTable | readonly AnyTable[], changes: readonly C[]): Promise<BatchResult<C>> {
  const { driver, kysely } = ctx;
  const tableOf = tableLookup(tables);
  const invalid = new Map<number, Error>();
  const prepared: PreparedChange[] = [];
  changes.forEach((change, index) => {
    const table = tableOf(change as AnyChange);
    const result = typeof table === "string" ? [table] : prepare(driver, table, change as AnyChange, index);
    if (Array.isArray(result)) invalid.set(index, new RowValidationError(typeof table === "string" ? "batch" : table.name, result));
    else prepared.push(result);
  });
  const refused = new Map<number, Error>();
  if (prepared.length > 0) {
    const what = Array.isArray(tables) ? (tables as readonly AnyTable[]).map((t) => t.name).join(", ") : (tables as AnyTable).name;
    const setup = driver.updateSetup !== undefined && prepared.some((c) => c.kind === "update") ? driver.updateSetup : undefined;
    try {
      await kysely.transaction().execute(async (trx) => {
        if (setup !== undefined) await run(trx, setup);
        await runAll(trx, driver, prepared);
      });
    } catch (error) {
      if (!driver.isRowError(error)) throw new BatchFailedError(`applyBatch on ${what}: nothing applied (rolled back): ${reasonOf(error)}`, { cause: error });
      try {
        await kysely.transaction().execute(async (trx) => {
          if (setup !== undefined) await run(trx, setup);
          await isolate(trx, driver, prepared, refused);
        });
      } catch (retryError) {
        throw new BatchFailedError(`applyBatch on ${what}: nothing applied (rolled back while isolating a refused row): ${reasonOf(retryError)}`, { cause: retryError });
      }
    }
  }
  const rejected = [...invalid, ...refused].sort((a, b) => a[0] - b[0]).map(([index, error]) => ({ change: changes[index] as C, error }));
  return { applied: prepared.length - refused.size, rejected };
}
