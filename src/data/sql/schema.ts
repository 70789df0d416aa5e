/**
 * syncSchema: make the database hold the declared tables without ever losing data.
 *
 * - a missing table is created with its indexes; a missing column is added when it is
 *   nullable or has a default; a missing index is created;
 * - a column whose type or nullability differs, a new NOT NULL column without a default, a
 *   changed primary key, or an index whose uniqueness differs is refused: SchemaError lists
 *   every problem with what to do, and nothing is changed (all tables are checked first);
 * - a column or index in the database but not in the declaration is only reported (notices).
 */
import type { AnyColumn } from "./columns.ts";
import { run, type LiveTable, type SqlDriver } from "./driver.ts";
import { SchemaError } from "./errors.ts";
import type { SqlContext } from "./rows.ts";
import type { AnyTable, IndexDef } from "./table.ts";

export interface SchemaReport {
  /** Tables created. */
  created: string[];
  /** Columns added, as `table.column`. */
  addedColumns: string[];
  /** Indexes created, by name. */
  addedIndexes: string[];
  /** Things left as they are that someone may want to look at (extra columns and indexes). */
  notices: string[];
}

function isIndexed(table: AnyTable, column: string): boolean {
  return column === table.primaryKey || table.indexes.some((i) => i.columns.includes(column));
}

function columnDdl(driver: SqlDriver, table: AnyTable, name: string): string {
  const col = table.columns[name] as AnyColumn;
  let ddl = `${driver.quote(name)} ${driver.columnType(col, isIndexed(table, name))}`;
  if (!col.isNullable) ddl += " NOT NULL";
  if (col.hasDefault && col.defaultValue !== null) ddl += ` DEFAULT ${driver.defaultLiteral(col, col.defaultValue)}`;
  return ddl;
}

function createTableDdl(driver: SqlDriver, table: AnyTable): string {
  const parts = table.columnNames.map((c) => columnDdl(driver, table, c));
  parts.push(`PRIMARY KEY (${driver.quote(table.primaryKey)})`);
  return `CREATE TABLE IF NOT EXISTS ${driver.quote(table.name)} (${parts.join(", ")})${driver.createTableSuffix}`;
}

function createIndexDdl(driver: SqlDriver, table: AnyTable, index: IndexDef): string {
  const columns = index.columns.map((c) => driver.quote(c)).join(", ");
  return `CREATE ${index.unique ? "UNIQUE " : ""}INDEX ${driver.quote(index.name)} ON ${driver.quote(table.name)} (${columns})`;
}

interface Plan {
  statements: string[];
  report: SchemaReport;
  problems: string[];
}

function planTable(driver: SqlDriver, table: AnyTable, live: LiveTable | undefined, plan: Plan): void {
  const t = table.name;
  if (live === undefined) {
    plan.statements.push(createTableDdl(driver, table), ...table.indexes.map((i) => createIndexDdl(driver, table, i)));
    plan.report.created.push(t);
    plan.report.addedIndexes.push(...table.indexes.map((i) => i.name));
    return;
  }
  if (live.primaryKey.length !== 1 || live.primaryKey[0] !== table.primaryKey) {
    plan.problems.push(
      `${t}: the primary key is (${live.primaryKey.join(", ") || "none"}) in the database but "${table.primaryKey}" in the declaration; syncSchema never changes a primary key: declare the existing key, or migrate by hand (new table, copy, rename)`,
    );
  }
  for (const name of table.columnNames) {
    const col = table.columns[name] as AnyColumn;
    const found = live.columns.get(name);
    const declared = `${col.kind} (${driver.columnType(col, isIndexed(table, name))})`;
    if (found === undefined) {
      if (col.isNullable || col.hasDefault) {
        plan.statements.push(`ALTER TABLE ${driver.quote(t)} ADD COLUMN ${columnDdl(driver, table, name)}`);
        plan.report.addedColumns.push(`${t}.${name}`);
      } else {
        plan.problems.push(`${t}.${name}: a new NOT NULL column without a default, so rows already in the table would have no value: give it .default(…) or make it .nullable()`);
      }
      continue;
    }
    if (!driver.acceptedTypes(col.kind).includes(found.type)) {
      plan.problems.push(
        `${t}.${name}: is ${found.type} in the database but declared ${declared}; syncSchema never retypes a column: declare the type it has, or migrate the data by hand (add a new column, copy, drop the old one)`,
      );
    }
    if (found.nullable && !col.isNullable && name !== table.primaryKey) {
      plan.problems.push(`${t}.${name}: allows NULL in the database but is declared not null: fill its NULLs and ALTER it to NOT NULL by hand, or declare it .nullable()`);
    } else if (!found.nullable && col.isNullable) {
      plan.problems.push(`${t}.${name}: is NOT NULL in the database but declared .nullable(): ALTER it to allow NULL by hand, or drop .nullable()`);
    }
  }
  for (const name of live.columns.keys()) {
    if (!(name in table.columns)) plan.report.notices.push(`${t}.${name}: in the database but not declared; left as it is (syncSchema never drops a column)`);
  }
  for (const index of table.indexes) {
    const found = live.indexes.get(index.name);
    if (found === undefined) {
      plan.statements.push(createIndexDdl(driver, table, index));
      plan.report.addedIndexes.push(index.name);
    } else if (found.unique !== index.unique) {
      plan.problems.push(
        `${t}: index ${index.name} is ${found.unique ? "unique" : "not unique"} in the database but declared ${index.unique ? "unique" : "not unique"}: drop the index by hand (syncSchema then creates it as declared) or change the declaration`,
      );
    }
  }
  const declaredIndexes = new Set(table.indexes.map((i) => i.name));
  for (const name of live.indexes.keys()) {
    if (!declaredIndexes.has(name)) plan.report.notices.push(`${t}: index ${name} is in the database but not declared; left as it is`);
  }
}

/** Create or extend the declared tables; throws SchemaError (changing nothing) when that would lose or retype data. */
export async function syncSchema(db: SqlContext, tables: readonly AnyTable[]): Promise<SchemaReport> {
  const names = new Set<string>();
  for (const table of tables) {
    if (names.has(table.name)) throw new SchemaError([`${table.name}: declared twice in one syncSchema call`]);
    names.add(table.name);
  }
  const plan: Plan = { statements: [], problems: [], report: { created: [], addedColumns: [], addedIndexes: [], notices: [] } };
  for (const table of tables) planTable(db.driver, table, await db.driver.inspect(db.kysely, table.name), plan);
  if (plan.problems.length > 0) throw new SchemaError(plan.problems);
  // MySQL commits each DDL statement by itself, so these are not one transaction on every dialect;
  // if one fails, a second sync inspects again and does what is left.
  for (const statement of plan.statements) await run(db.kysely, statement);
  return plan.report;
}
