/** syncSchema on SQLite, PostgreSQL and MariaDB: create, extend, refuse what would lose or retype data. */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { column, defineTable, SchemaError, syncSchema } from "../../src/index.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";

for (const service of SERVICES) {
  describe(`syncSchema on ${service.dialect}`, () => {
    const sut = new ServiceUnderTest(service);
    after(() => sut.cleanup());

    test("creates a missing table with its indexes, and a second sync changes nothing", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const name = sut.tableName("create");
      const Items = defineTable(name, {
        columns: { id: column.integer(), owner: column.bigint(), kind: column.text(), price: column.real().default(0) },
        primaryKey: "id",
        indexes: [{ columns: ["owner", "kind"] }, { columns: ["kind"], unique: true, name: `${name}_kind` }],
      });
      assert.deepEqual(await syncSchema(db, [Items]), {
        created: [name],
        addedColumns: [],
        addedIndexes: [`${name}_owner_kind_idx`, `${name}_kind`],
        notices: [],
      });
      assert.deepEqual(await syncSchema(db, [Items]), { created: [], addedColumns: [], addedIndexes: [], notices: [] });
      const live = await db.driver.inspect(db.kysely, name);
      assert.deepEqual(live?.primaryKey, ["id"]);
      assert.deepEqual([...(live?.indexes ?? new Map<string, { unique: boolean }>())].sort(), [
        [`${name}_kind`, { unique: true }],
        [`${name}_owner_kind_idx`, { unique: false }],
      ]);
    });

    test("adds missing nullable and defaulted columns and missing indexes; rows already there get the default", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const name = sut.tableName("grow");
      const V1 = defineTable(name, { columns: { id: column.text(), hp: column.integer() }, primaryKey: "id" });
      await syncSchema(db, [V1]);
      await db.applyBatch(V1, [{ kind: "insert", row: { id: "a", hp: 10 } }]);
      const V2 = defineTable(name, {
        columns: {
          id: column.text(),
          hp: column.integer(),
          title: column.text({ maxLength: 20 }).nullable(),
          gold: column.bigint().default(100n),
          flags: column.json<string[]>().default(["new"]),
          vip: column.boolean().default(false),
        },
        primaryKey: "id",
        indexes: [{ columns: ["gold"] }],
      });
      assert.deepEqual(await syncSchema(db, [V2]), {
        created: [],
        addedColumns: [`${name}.title`, `${name}.gold`, `${name}.flags`, `${name}.vip`],
        addedIndexes: [`${name}_gold_idx`],
        notices: [],
      });
      const rows = await db.getRows(V2, ["a"]);
      assert.deepEqual(rows.get("a"), { id: "a", hp: 10, title: null, gold: 100n, flags: ["new"], vip: false });
    });

    test("refuses a retype, a new NOT NULL column without default, a changed primary key and a changed index, listing all and changing nothing", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const name = sut.tableName("refuse");
      const V1 = defineTable(name, {
        columns: { id: column.integer(), name: column.text(), score: column.real().nullable() },
        primaryKey: "id",
        indexes: [{ columns: ["name"] }],
      });
      await syncSchema(db, [V1]);
      const Bad = defineTable(name, {
        columns: { id: column.integer(), name: column.integer(), score: column.real(), level: column.integer(), note: column.text().nullable() },
        primaryKey: "name",
        indexes: [{ columns: ["name"], name: `${name}_name_idx`, unique: true }],
      });
      const error = await syncSchema(db, [Bad]).then(
        () => assert.fail("sync accepted a retype"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof SchemaError);
      const text = error.problems.join("\n");
      assert.match(text, new RegExp(`${name}: the primary key is \\(id\\) in the database but "name" in the declaration; syncSchema never changes a primary key`));
      assert.match(text, new RegExp(`${name}\\.name: is \\w+ in the database but declared integer .*syncSchema never retypes a column: declare the type it has, or migrate`));
      assert.match(text, new RegExp(`${name}\\.score: allows NULL in the database but is declared not null`));
      assert.match(text, new RegExp(`${name}\\.level: a new NOT NULL column without a default.*give it \\.default\\(…\\) or make it \\.nullable\\(\\)`));
      assert.match(text, new RegExp(`index ${name}_name_idx is not unique in the database but declared unique`));
      assert.equal(error.problems.length, 5);
      // Nothing changed: the nullable column that could have been added was not.
      const live = await db.driver.inspect(db.kysely, name);
      assert.deepEqual([...(live?.columns.keys() ?? [])].sort(), ["id", "name", "score"]);
    });

    test("a column in the database but not in the declaration is reported, never dropped", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const name = sut.tableName("extra");
      const Full = defineTable(name, { columns: { id: column.bigint(), legacy: column.text().nullable(), hp: column.integer() }, primaryKey: "id", indexes: [{ columns: ["hp"] }] });
      await syncSchema(db, [Full]);
      const Slim = defineTable(name, { columns: { id: column.bigint(), hp: column.integer() }, primaryKey: "id" });
      const report = await syncSchema(db, [Slim]);
      assert.deepEqual(report.notices, [
        `${name}.legacy: in the database but not declared; left as it is (syncSchema never drops a column)`,
        `${name}: index ${name}_hp_idx is in the database but not declared; left as it is`,
      ]);
      assert.ok((await db.driver.inspect(db.kysely, name))?.columns.has("legacy"));
    });
  });
}
