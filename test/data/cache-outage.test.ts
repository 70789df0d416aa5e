/**
 * The database goes away in the middle of traffic (a proxy in front of PostgreSQL or MariaDB cuts every
 * connection and refuses new ones): changes keep being acknowledged, write-backs fail and are
 * counted, nothing is dropped, and once the database is back every change lands.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { column, defineTable, EntityCache, openDatabase, syncSchema } from "../../src/index.ts";
import { CuttableProxy, waitFor } from "../helpers.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";

const SERVERS = [
  { dialect: "postgres", port: 5432, url: (port: number) => `postgres://postgres@127.0.0.1:${port}/test` },
  { dialect: "mysql", port: 3306, url: (port: number) => `mysql://root@127.0.0.1:${port}/test` },
] as const;

for (const server of SERVERS) {
  const sut = new ServiceUnderTest(SERVICES.find((s) => s.dialect === server.dialect)!);
  after(() => sut.cleanup());

  test(`${server.dialect} down mid-traffic: changes are held and retried, none lost`, async (t) => {
    const direct = await sut.open(t);
    if (direct === undefined) return;
    const Scores = defineTable(sut.tableName("outage"), { columns: { id: column.integer(), points: column.integer() }, primaryKey: "id" });
    await syncSchema(direct, [Scores]);
    const proxy = new CuttableProxy(server.port);
    const port = await proxy.listen();
    const db = await openDatabase({ url: server.url(port), connectTimeoutMs: 1000, queryTimeoutMs: 2000 });
    const cache = await EntityCache.open({ db, tables: [Scores], flushIntervalMs: 50 });
    try {
      const scores = cache.table(Scores);
      for (let id = 1; id <= 100; id++) await scores.create({ id, points: 0 });
      await cache.flush();
      proxy.cut();
      for (let round = 1; round <= 5; round++) for (let id = 1; id <= 100; id++) await scores.update(id, { points: round });
      await waitFor(() => cache.stats.failures >= 2, 10_000, "write-backs to fail while the database is away");
      assert.equal(cache.stats.dirty, 100, "every changed row is still held");
      assert.ok(cache.stats.lastError !== null);
      proxy.restore();
      await waitFor(() => cache.stats.dirty === 0, 20_000, "the held rows to be written once the database is back");
      const rows = await direct.getRows(Scores, Array.from({ length: 100 }, (_, i) => i + 1));
      assert.equal(rows.size, 100);
      for (const row of rows.values()) assert.equal(row.points, 5);
      assert.equal(cache.stats.rejected, 0);
    } finally {
      await cache.close().catch(() => undefined);
      await db.close().catch(() => undefined);
      proxy.cut();
      proxy.server.close();
    }
  });
}
