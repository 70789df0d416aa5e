import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertPatch,
  assertRow,
  column,
  defineTable,
  patchProblems,
  rowProblems,
  RowValidationError,
  TableDefinitionError,
  type InsertOf,
  type PatchOf,
  type PkOf,
  type RowOf,
} from "../../src/index.ts";

interface Bag {
  items: string[];
}

const Players = defineTable("players", {
  columns: {
    id: column.bigint(),
    name: column.text({ maxLength: 8 }),
    level: column.integer().default(1),
    guild: column.integer().nullable(),
    bag: column.json<Bag>().default({ items: [] }),
    seen: column.timestamp().nullable(),
  },
  primaryKey: "id",
  indexes: [{ columns: ["name"], unique: true }, { columns: ["guild"] }],
});

test("the declaration types rows, inserts, patches and keys", () => {
  const row: RowOf<typeof Players> = { id: 1n, name: "ann", level: 1, guild: null, bag: { items: [] }, seen: null };
  const insert: InsertOf<typeof Players> = { id: 1n, name: "ann" };
  const patch: PatchOf<typeof Players> = { level: 2, guild: null };
  const pk: PkOf<typeof Players> = 1n;
  // @ts-expect-error name is a string
  const badType: InsertOf<typeof Players> = { id: 1n, name: 3 };
  // @ts-expect-error name is required (not null, no default)
  const missing: InsertOf<typeof Players> = { id: 1n };
  // @ts-expect-error an update cannot change the primary key
  const pkPatch: PatchOf<typeof Players> = { id: 2n };
  // @ts-expect-error guild is not nullable in reads? it is: level is not
  const nullLevel: RowOf<typeof Players> = { ...row, level: null };
  assert.ok(row && insert && patch && pk && badType && missing && pkPatch && nullLevel);
  // @ts-expect-error a json column cannot be the primary key
  assert.throws(() => defineTable("t", { columns: { a: column.json(), b: column.integer() }, primaryKey: "a" }), TableDefinitionError);
  // @ts-expect-error an index names an undeclared column
  assert.throws(() => defineTable("t", { columns: { a: column.integer() }, primaryKey: "a", indexes: [{ columns: ["zz"] }] }), TableDefinitionError);
});

test("defineTable refuses declarations that cannot work on every dialect", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => defineTable("bad-name", { columns: { a: column.integer() }, primaryKey: "a" }), /table "bad-name": expected letters/],
    [() => defineTable("t", { columns: { "a b": column.integer() }, primaryKey: "a b" }), /column "a b": expected letters/],
    [() => defineTable("t", { columns: { a: column.integer(), b: column.bytes() }, primaryKey: "a", indexes: [{ columns: ["b"] }] }), /"b" is bytes, which cannot be indexed/],
    [() => defineTable("t", { columns: { a: column.integer(), b: column.bytes().default(new Uint8Array()) }, primaryKey: "a" }), /a bytes column cannot have a default/],
    [() => defineTable("t", { columns: { a: column.integer(), b: column.integer().default(2 ** 40) }, primaryKey: "a" }), /bad default: expected a 32-bit integer/],
    [() => defineTable("t", { columns: { a: column.integer(), b: column.text({ maxLength: 0 }) }, primaryKey: "a" }), /maxLength must be an integer from 1 to 16383/],
    [() => defineTable("t", { columns: { a: column.integer(), b: column.integer() }, primaryKey: "a", indexes: [{ columns: ["b"] }, { columns: ["b"] }] }), /two indexes are named "t_b_idx"/],
    [() => defineTable("t".repeat(60), { columns: { a: column.integer(), b: column.integer() }, primaryKey: "a", indexes: [{ columns: ["b"] }] }), /give the index a shorter name/],
  ];
  for (const [make, expected] of cases) assert.throws(make, (e: unknown) => e instanceof TableDefinitionError && expected.test(e.message));
});

test("rows and patches are checked against the declaration: unknown columns, wrong JS types, nulls, missing columns", () => {
  assert.deepEqual(rowProblems(Players, { id: 1n, name: "ann" }), []);
  assert.deepEqual(rowProblems(Players, { id: 1, name: "ann", lvl: 3, guild: null, level: 1.5 }), [
    "column \"id\": expected a 64-bit bigint, received number 1",
    'unknown column "lvl" (columns: id, name, level, guild, bag, seen)',
    'column "level": expected a 32-bit integer, received number 1.5',
  ]);
  assert.deepEqual(rowProblems(Players, { id: 2n, name: null }), ['column "name": null in a not-null column']);
  assert.deepEqual(rowProblems(Players, { id: 2n }), ['missing column "name" (not null, no default)']);
  assert.deepEqual(rowProblems(Players, { id: 2n, name: "ninechars" }), ['column "name": expected at most 8 characters, received 9']);
  assert.deepEqual(rowProblems(Players, { id: 2n, name: "😀😀😀😀😀😀😀😀" }), [], "maxLength counts characters, not UTF-16 units");
  assert.deepEqual(rowProblems(Players, { id: 2n, name: "a", bag: { f: () => 1 }, seen: new Date(NaN) }), [
    'column "bag": expected a JSON value (plain objects, arrays, strings, finite numbers, booleans, null), received object',
    'column "seen": expected a valid Date, received a Date',
  ]);
  assert.deepEqual(patchProblems(Players, { id: 3n, level: "9" }), [
    'column "id" is the primary key; an update cannot change it (delete and insert instead)',
    'column "level": expected a 32-bit integer, received string',
  ]);
  assert.deepEqual(patchProblems(Players, {}), ["an update with no columns"]);
  assert.throws(
    () => assertRow(Players, { id: 1n, name: "a", levle: 2 }),
    (e: unknown) => e instanceof RowValidationError && e.table === "players" && /unknown column "levle"/.test(e.message),
  );
  assert.throws(() => assertPatch(Players, { guild: "x" }), RowValidationError);
});
