/**
 * Keys from `nextId` are unique across nodes sharing a database: two caches on two connections
 * (as two nodes would have) allocate concurrently on SQLite, PostgreSQL and MariaDB, above the
 * keys the table already had.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { column, defineTable, EntityCache, openDatabase, syncSchema } from "../../src/index.ts";
import { run } from "../../src/data/sql/driver.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";

for (const service of SERVICES) {
  describe(`ids on ${service.dialect}`, () => {
    const sut = new ServiceUnderTest(service);
    after(() => sut.cleanup());

    test("two nodes allocate at once: no key twice, none at or below the table's existing keys", async (t) => {
      const db = await sut.open(t);
      if (db === undefined) return;
      const name = sut.tableName("ids");
      const Items = defineTable(name, { columns: { id: column.integer(), label: column.text() }, primaryKey: "id" });
      await syncSchema(db, [Items]);
      await db.applyBatch(Items, Array.from({ length: 50 }, (_, i) => ({ kind: "insert" as const, row: { id: i + 1, label: "old" } })));
      const other = await openDatabase(db.config); // the second node's own connection
      const caches = [await EntityCache.open({ db, tables: [Items], idBlockSize: 64 }), await EntityCache.open({ db: other, tables: [Items], idBlockSize: 64 })];
      try {
        const runNode = async (cache: EntityCache): Promise<number[]> => {
          const items = cache.table(Items);
          const mine: number[] = [];
          // 8 writers per node, each taking keys and creating rows with them.
          await Promise.all(
            Array.from({ length: 8 }, async () => {
              for (let i = 0; i < 100; i++) {
                const id = await items.nextId();
                mine.push(id);
                await items.create({ id, label: "new" });
              }
            }),
          );
          await cache.flush();
          return mine;
        };
        // SQLite connections in one process cannot wait for each other (the wait blocks the thread
        // that would release the lock), so there the two nodes take turns; elsewhere they race.
        const [a, b] = caches as [EntityCache, EntityCache];
        const ids = service.dialect === "sqlite" ? [await runNode(a), await runNode(b)] : await Promise.all([runNode(a), runNode(b)]);
        const all = ids.flat();
        assert.equal(all.length, 1600);
        assert.equal(new Set(all).size, 1600, "no key was handed out twice");
        assert.ok(Math.min(...all) > 50, "keys start above the existing rows");
        const rows = await db.getRows(Items, all);
        assert.equal(rows.size, 1600, "every created row landed: no key clashed in the database");
        for (const cache of caches) assert.equal(cache.stats.rejected, 0);
      } finally {
        for (const cache of caches) await cache.close();
        await run(db.kysely, `DELETE FROM ${db.driver.quote("glowfly_ids")} WHERE ${db.driver.quote("name")} = ${db.driver.placeholder(1)}`, [name]);
        await other.close();
      }
    });

    test("a table whose key is text gets no ids", async (t) => {
      const db = await sut.open(t);
      if (db === undefined) return;
      const Named = defineTable(sut.tableName("named"), { columns: { key: column.text({ maxLength: 20 }) }, primaryKey: "key" });
      const cache = await EntityCache.open({ db, tables: [Named] });
      try {
        await assert.rejects(cache.table(Named).nextId(), /integer keys only/);
      } finally {
        await cache.close();
      }
    });
  });
}
