/**
 * applyBatch as the cache's write-back uses it: many updates of distinct rows in one batch, a
 * refused row among them, and the reason reported for a row that clashes on a unique column
 * other than the key (MySQL reported "Column 'id' cannot be null" for an upsert). Runs on
 * SQLite, PostgreSQL and MariaDB.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { sql } from "kysely";
import { ChangeRejectedError, column, defineTable, openDatabase, syncSchema, type ChangeOf, type Database, type RowOf } from "../../src/index.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";

function players(name: string) {
  return defineTable(name, {
    columns: { id: column.integer(), name: column.text({ maxLength: 32 }), level: column.integer().default(1), gold: column.integer().default(0), guild: column.integer().nullable() },
    primaryKey: "id",
    indexes: [{ columns: ["name"], unique: true }, { columns: ["guild"] }],
  });
}
type Players = ReturnType<typeof players>;

/** What each dialect says about a clash on the unique index `<table>_name_uq`. */
function uniqueClash(dialect: string, table: string): RegExp {
  if (dialect === "sqlite") return new RegExp(`^UNIQUE constraint failed: ${table}\\.name$`);
  if (dialect === "postgres") return new RegExp(`^duplicate key value violates unique constraint "${table}_name_uq" \\(Key \\(name\\)=\\(taken\\) already exists\\.\\)$`);
  return new RegExp(`^Duplicate entry 'taken' for key '${table}_name_uq'$`);
}

async function rowsOf(db: Database, table: Players, ids: readonly number[]): Promise<Map<number, RowOf<Players>>> {
  return db.getRows(table, ids);
}

for (const service of SERVICES) {
  describe(`write-back batches on ${service.dialect}`, () => {
    const sut = new ServiceUnderTest(service);
    after(() => sut.cleanup());

    test("a row clashing on another unique column is refused with the unique index as its reason, upsert or insert", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("clash"));
      await syncSchema(db, [P]);
      await db.applyBatch(P, [
        { kind: "insert", row: { id: 1, name: "taken" } },
        { kind: "insert", row: { id: 2, name: "two" } },
      ]);
      // Multi-row statements first (the refusal is then isolated by the binary split).
      const changes: ChangeOf<Players>[] = [];
      for (let i = 10; i < 40; i++) changes.push({ kind: "upsert", row: { id: i, name: `u${i}`, gold: i } });
      changes[7] = { kind: "upsert", row: { id: 99, name: "taken", gold: 7 } }; // new key, another row's name
      changes.push({ kind: "upsert", row: { id: 2, name: "taken" } }); // existing key, another row's name
      for (let i = 40; i < 50; i++) changes.push({ kind: "insert", row: { id: i, name: `i${i}` } });
      changes.push({ kind: "insert", row: { id: 98, name: "taken" } });
      changes.push({ kind: "update", pk: 2, columns: { name: "taken" } });
      const result = await db.applyBatch(P, changes);
      assert.deepEqual(
        result.rejected.map((r) => r.change),
        [changes[7], changes[30], changes[41], changes[42]],
      );
      assert.equal(result.applied, changes.length - 4);
      for (const { error } of result.rejected) {
        assert.ok(error instanceof ChangeRejectedError, String(error));
        assert.doesNotMatch(error.message, /cannot be null/i);
        assert.match(error.message, uniqueClash(service.dialect, P.name));
        assert.equal(error.code, { sqlite: "SQLITE_CONSTRAINT_UNIQUE", postgres: "23505", mysql: "ER_DUP_ENTRY" }[service.dialect]);
      }
      const rows = await rowsOf(db, P, [1, 2, 10, 17, 39, 40, 49, 98, 99]);
      assert.deepEqual(rows.get(1), { id: 1, name: "taken", level: 1, gold: 0, guild: null }, "the row clashed with is untouched");
      assert.equal(rows.get(2)?.name, "two");
      assert.equal(rows.has(98), false);
      assert.equal(rows.has(99), false);
      assert.equal(rows.has(17), false, "changes[7] was the upsert of 99, not of 17");
      assert.deepEqual(rows.get(39), { id: 39, name: "u39", level: 1, gold: 39, guild: null });
      assert.equal(rows.get(49)?.name, "i49");
      // A lone upsert, refused on its own: the same reason.
      const lone = await db.applyBatch(P, [{ kind: "upsert", row: { id: 97, name: "taken" } }]);
      assert.equal(lone.applied, 0);
      assert.match(lone.rejected[0]?.error.message ?? "", uniqueClash(service.dialect, P.name));
      assert.equal((await rowsOf(db, P, [1])).get(1)?.name, "taken");
    });

    test("thousands of updates of distinct rows, one refused: every other one lands with its values", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("updates"));
      await syncSchema(db, [P]);
      const n = 6000; // more than one statement's worth on every dialect
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      for (let i = 0; i < n; i += 2000) {
        const inserts: ChangeOf<Players>[] = ids.slice(i, i + 2000).map((id) => ({ kind: "insert", row: { id, name: `p${id}`, guild: id % 10 } }));
        assert.deepEqual((await db.applyBatch(P, inserts)).rejected, []);
      }
      // In shuffled key order, as the cache hands them over; two column sets; one row clashes on name.
      const order = ids.map((id) => ({ id, r: (id * 7919) % n })).sort((a, b) => a.r - b.r).map((x) => x.id);
      const changes: ChangeOf<Players>[] = order.map((id) => ({ kind: "update", pk: id, columns: { gold: id * 2, level: 2 } }));
      changes.splice(3000, 0, { kind: "update", pk: 5, columns: { name: "p6" } });
      changes.push({ kind: "update", pk: 7, columns: { guild: null, level: 3 } });
      changes.push({ kind: "update", pk: n + 100, columns: { gold: 1 } }); // missing key: changes nothing, not an error
      const result = await db.applyBatch(P, changes);
      assert.deepEqual(
        result.rejected.map((r) => r.change),
        [changes[3000]],
      );
      assert.match(result.rejected[0]?.error.message ?? "", /unique|duplicate/i);
      assert.equal(result.applied, changes.length - 1);
      const rows = await rowsOf(db, P, ids);
      assert.equal(rows.size, n);
      for (const id of ids) {
        const row = rows.get(id);
        assert.deepEqual(row, { id, name: `p${id}`, level: id === 7 ? 3 : 2, gold: id * 2, guild: id === 7 ? null : id % 10 }, `row ${id}`);
      }
    });

    if (service.dialect === "postgres") {
      test("PostgreSQL: created tables leave room for HOT updates; the batch's planner settings end with its transaction", async (t) => {
        const shared = await sut.open(t);
        if (!shared) return;
        const P = players(sut.tableName("storage"));
        await syncSchema(shared, [P]);
        const options = await sql<{ reloptions: string[] | null }>`SELECT reloptions FROM pg_class WHERE relname = ${P.name}`.execute(shared.kysely);
        assert.deepEqual(options.rows[0]?.reloptions, ["fillfactor=80"]);
        // One connection, so the check runs where the batch ran.
        const db = await openDatabase({ url: service.url(""), poolSize: 1 });
        try {
          await db.applyBatch(P, [{ kind: "insert", row: { id: 1, name: "a" } }]);
          const result = await db.applyBatch(P, [
            { kind: "update", pk: 1, columns: { gold: 5 } },
            { kind: "insert", row: { id: 2, name: "a" } }, // refused: the isolating transaction runs too
          ]);
          assert.equal(result.rejected.length, 1);
          const settings = await sql<{ hash: string; merge: string }>`SELECT current_setting('enable_hashjoin') AS hash, current_setting('enable_mergejoin') AS merge`.execute(db.kysely);
          assert.deepEqual(settings.rows[0], { hash: "on", merge: "on" });
          assert.equal((await db.getRows(P, [1])).get(1)?.gold, 5);
        } finally {
          await db.close();
        }
      });
    }
  });
}
