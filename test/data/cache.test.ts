/**
 * The entity cache on a real SQLite file: read-through, column-level write-back, index lists
 * with unwritten changes laid over, eviction, refused changes, back-pressure, and a writer
 * process killed with SIGKILL whose acknowledged changes all reach the database.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CacheBackpressureError, EntityCache, EntityExistsError, EntityNotFoundError, Journal, openDatabase, RowValidationError, syncSchema, type Database } from "../../src/index.ts";
import { Players } from "./cache-tables.ts";
import { checkAcknowledged, crashAndRecover } from "./cache-writer.ts";
import { waitFor } from "../helpers.ts";

async function setup(t: TestContext, options: { journal?: boolean; maxEntities?: number; maxDirty?: number; maxWaitMs?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-cache-"));
  const db = await openDatabase(`sqlite:${join(dir, "game.db")}`);
  await syncSchema(db, [Players]);
  const journal = options.journal ? await Journal.open(join(dir, "journal"), { fsync: "always" }) : undefined;
  const { journal: _withJournal, ...limits } = options;
  const cache = await EntityCache.open({ db, tables: [Players], flushIntervalMs: 60_000, ...limits, ...(journal ? { journal } : {}) });
  t.after(async () => {
    await cache.close().catch(() => undefined);
    await journal?.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, db, journal, cache, players: cache.table(Players) };
}

/** The row as the database has it, read past the cache. */
async function inDb(db: Database, id: number) {
  return (await db.getRows(Players, [id])).get(id);
}

test("rows are read through, created, changed and deleted in memory, and written back on flush", async (t) => {
  const { db, cache, players } = await setup(t);
  await db.applyBatch(Players, [{ kind: "insert", row: { id: 1, name: "ann", level: 3 } }]);
  assert.deepEqual(await players.get(1), { id: 1, name: "ann", level: 3, gold: 0, guild: null });
  assert.equal(await players.get(2), undefined);
  const created = await players.create({ id: 2, name: "bob" });
  assert.deepEqual(created, { id: 2, name: "bob", level: 1, gold: 0, guild: null }, "defaults filled in");
  await players.update(1, { gold: 50 });
  assert.equal(await inDb(db, 2), undefined, "nothing is written before a flush");
  assert.equal((await inDb(db, 1))?.gold, 0);
  assert.equal(cache.stats.dirty, 2);
  await cache.flush();
  assert.deepEqual(await inDb(db, 2), created);
  assert.equal((await inDb(db, 1))?.gold, 50);
  assert.equal(cache.stats.dirty, 0);
  assert.equal(await players.delete(2), true);
  assert.equal(await players.get(2), undefined);
  await cache.flush();
  assert.equal(await inDb(db, 2), undefined);
  assert.equal(await players.delete(2), false);
});

test("close writes back what is left, then refuses changes", async (t) => {
  const { db, cache, players } = await setup(t);
  await players.create({ id: 1, name: "ann" });
  await players.update(1, { gold: 3 });
  assert.equal(await inDb(db, 1), undefined);
  await cache.close();
  assert.equal((await inDb(db, 1))?.gold, 3);
  await assert.rejects(players.update(1, { gold: 4 }), /closed/);
});

test("a flush writes only the columns that changed", async (t) => {
  const { db, cache, players } = await setup(t);
  await db.applyBatch(Players, [{ kind: "insert", row: { id: 1, name: "ann" } }]);
  await players.get(1);
  // Someone else changes another column of the same row in the database meanwhile.
  await db.applyBatch(Players, [{ kind: "update", pk: 1, columns: { level: 9 } }]);
  await players.update(1, { gold: 7 });
  await cache.flush();
  const row = await inDb(db, 1);
  assert.equal(row?.gold, 7);
  assert.equal(row?.level, 9, "the column this cache did not change was not overwritten");
});

test("getMany fetches the misses in one go; byIndex sees unwritten creates, moves and deletes", async (t) => {
  const { db, players } = await setup(t);
  await db.applyBatch(Players, [1, 2, 3, 4].map((id) => ({ kind: "insert" as const, row: { id, name: `p${id}`, guild: id <= 2 ? 7 : 8 } })));
  const many = await players.getMany([1, 2, 3, 99]);
  assert.deepEqual([...many.keys()].sort(), [1, 2, 3]);
  await players.create({ id: 5, name: "new", guild: 7 });
  await players.update(3, { guild: 7 }); // moves into guild 7
  await players.update(2, { guild: 8 }); // moves out
  await players.delete(1);
  const guild7 = (await players.byIndex("guild", 7)).map((r) => r.id).sort();
  assert.deepEqual(guild7, [3, 5]);
  const guild8 = (await players.byIndex("guild", 8)).map((r) => r.id).sort();
  assert.deepEqual(guild8, [2, 4]);
});

test("bad input is refused before it is acknowledged", async (t) => {
  const { cache, players } = await setup(t);
  await players.create({ id: 1, name: "ann" });
  await assert.rejects(players.create({ id: 1, name: "again" }), EntityExistsError);
  await assert.rejects(players.update(2, { gold: 1 }), EntityNotFoundError);
  // @ts-expect-error -- a column the table does not have
  await assert.rejects(players.update(1, { mana: 3 }), RowValidationError);
  // @ts-expect-error -- a value of the wrong type
  await assert.rejects(players.update(1, { gold: "lots" }), RowValidationError);
  await assert.rejects(players.create({ id: 3, name: "x".repeat(40) }), RowValidationError);
  // @ts-expect-error -- a key of the wrong type
  await assert.rejects(players.get("1"), RowValidationError);
  assert.equal(cache.stats.dirty, 1, "only the valid create is owed");
});

test("a change the database refuses is reported and dropped; the rest of the batch lands", async (t) => {
  const { db, cache, players } = await setup(t);
  await db.applyBatch(Players, [{ kind: "insert", row: { id: 1, name: "taken" } }]);
  await players.create({ id: 2, name: "taken" }); // unique index on name: the database will refuse it
  await players.create({ id: 3, name: "fine" });
  await cache.flush();
  assert.equal(cache.stats.rejected, 1);
  assert.equal(await inDb(db, 2), undefined);
  assert.equal((await inDb(db, 3))?.name, "fine");
  assert.equal(cache.stats.dirty, 0, "not retried forever");
  assert.equal(await players.get(2), undefined, "the cache forgot the refused row: the database is the truth");
});

test("memory is bounded: clean rows are evicted least recently used first, dirty ones only once written", async (t) => {
  const { db, cache, players } = await setup(t, { maxEntities: 10 });
  await db.applyBatch(Players, Array.from({ length: 30 }, (_, i) => ({ kind: "insert" as const, row: { id: i + 1, name: `p${i + 1}` } })));
  for (let id = 1; id <= 30; id++) await players.get(id);
  assert.ok(cache.stats.entities <= 10, `${cache.stats.entities} cached`);
  assert.ok(cache.stats.evicted >= 20);
  for (let id = 1; id <= 10; id++) await players.update(id, { gold: id });
  for (let id = 11; id <= 30; id++) await players.get(id);
  // The ten dirty rows could not be evicted: they are written back so that they can be.
  await waitFor(() => cache.stats.dirty === 0, 3000, "the dirty rows to be written back");
  for (let id = 1; id <= 10; id++) assert.equal((await inDb(db, id))?.gold, id);
});

test("eviction gives rows read since the last sweep a second chance: they stay, rows nobody read go", async (t) => {
  const { db, cache, players } = await setup(t, { maxEntities: 10 });
  await db.applyBatch(Players, Array.from({ length: 20 }, (_, i) => ({ kind: "insert" as const, row: { id: i + 1, name: `p${i + 1}` } })));
  for (let id = 1; id <= 10; id++) await players.get(id);
  // A first sweep passes everyone once (clearing the marks of the initial loads).
  await players.get(11);
  for (let id = 1; id <= 5; id++) await players.get(id); // read again: marked
  for (let id = 12; id <= 16; id++) await players.get(id);
  assert.ok(cache.stats.entities <= 10, `${cache.stats.entities} cached`);
  // Behind the cache's back, the database loses rows 1-10: what is still cached answers from memory.
  await db.applyBatch(Players, Array.from({ length: 10 }, (_, i) => ({ kind: "delete" as const, pk: i + 1 })));
  const cached = [];
  for (let id = 1; id <= 10; id++) if ((await players.get(id)) !== undefined) cached.push(id);
  assert.deepEqual(cached.slice(0, 5), [1, 2, 3, 4, 5], `the rows read again survived; cached: ${cached.join(",")}`);
  assert.ok(!cached.some((id) => id > 5), `rows nobody read again were evicted; cached: ${cached.join(",")}`);
});

test("a database that stops taking writes makes changes wait, then refuses them with a clear error", async (t) => {
  const { db, cache, players } = await setup(t, { maxDirty: 3, maxWaitMs: 300 });
  for (let id = 1; id <= 4; id++) await players.create({ id, name: `p${id}` });
  await cache.flush();
  await db.close(); // every write-back now fails
  for (let id = 1; id <= 3; id++) await players.update(id, { gold: id });
  const started = Date.now();
  await assert.rejects(players.update(4, { gold: 4 }), CacheBackpressureError);
  assert.ok(Date.now() - started >= 250, "it waited for room first");
  assert.equal(cache.stats.dirty, 3, "what was acknowledged is still held");
  assert.ok(cache.stats.failures >= 1);
});

for (const policy of ["always", "group"] as const) {
  test(`SIGKILL mid-traffic (fsync ${policy}): every acknowledged change is in the database after restart`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "glowfly-cache-crash-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const url = `sqlite:${join(dir, "game.db")}`;
    const log = await crashAndRecover({ url, journalDir: join(dir, "journal"), policy, table: Players.name });
    const db = await openDatabase(url);
    try {
      const check = await checkAcknowledged(db, Players.name, log);
      t.diagnostic(`${log.acks} acknowledged, ${log.created.size} creates, replayed ${log.replayed.join("/")}, ${check.rows} rows, ${check.unacknowledgedPresent} unacknowledged in-flight changes present`);
      assert.ok(log.replayed.some((n) => n > 0), "some journal records were replayed");
      assert.ok(log.created.size > 100);
    } finally {
      await db.close();
    }
  });
}
