/** Typed rows, reads and applyBatch on SQLite, PostgreSQL and MariaDB. */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  BatchFailedError,
  ChangeRejectedError,
  column,
  defineTable,
  RowValidationError,
  syncSchema,
  TableDefinitionError,
  type ChangeOf,
  type Database,
  type InsertOf,
  type RowOf,
} from "../../src/index.ts";
import { SERVICES, ServiceUnderTest } from "./services.ts";

function everyType(name: string) {
  return defineTable(name, {
    columns: {
      id: column.integer(),
      i: column.integer(),
      big: column.bigint(),
      r: column.real(),
      t: column.text(),
      short: column.text({ maxLength: 4 }),
      b: column.boolean(),
      j: column.json(),
      bytes: column.bytes(),
      at: column.timestamp(),
      maybe: column.text().nullable(),
      maybeJson: column.json().nullable(),
      maybeAt: column.timestamp().nullable(),
    },
    primaryKey: "id",
  });
}

function players(name: string) {
  return defineTable(name, {
    columns: { id: column.bigint(), name: column.text({ maxLength: 32 }), level: column.integer().default(1), guild: column.integer().nullable() },
    primaryKey: "id",
    indexes: [{ columns: ["name"], unique: true }, { columns: ["guild"] }],
  });
}

type Players = ReturnType<typeof players>;

async function allRows(db: Database, table: Players): Promise<RowOf<Players>[]> {
  const found = await db.getRows(table, Array.from({ length: 2000 }, (_, i) => BigInt(i)));
  return [...found.values()].sort((a, b) => Number(a.id - b.id));
}

for (const service of SERVICES) {
  describe(`rows on ${service.dialect}`, () => {
    const sut = new ServiceUnderTest(service);
    after(() => sut.cleanup());

    test("every column type round-trips, edge values included", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const Types = everyType(sut.tableName("types"));
      await syncSchema(db, [Types]);
      const all = new Uint8Array(256).map((_, i) => i);
      const rows: RowOf<typeof Types>[] = [
        {
          id: 1,
          i: 2 ** 31 - 1,
          big: 2n ** 63n - 1n,
          r: 0.1,
          t: `quote ' double " backslash \\ emoji 😀 nul-free ünïcode`,
          short: "😀abc",
          b: true,
          j: { nested: [1, "two", { three: null }], s: "é\\\"" },
          bytes: all,
          at: new Date("2024-02-29T23:59:59.999Z"),
          maybe: null,
          maybeJson: null,
          maybeAt: null,
        },
        {
          id: 2,
          i: -(2 ** 31),
          big: -(2n ** 63n),
          r: -1.5e300,
          t: "",
          short: "",
          b: false,
          j: "just a string",
          bytes: new Uint8Array(0),
          at: new Date(-1),
          maybe: "x",
          maybeJson: [0, false],
          maybeAt: new Date(0),
        },
        { id: 3, i: 0, big: 0n, r: 5e-324, t: "x", short: "a", b: false, j: 0, bytes: new Uint8Array([0]), at: new Date(1), maybe: null, maybeJson: null, maybeAt: null },
      ];
      const result = await db.applyBatch(
        Types,
        rows.map((row) => ({ kind: "insert", row })),
      );
      assert.deepEqual(result, { applied: 3, rejected: [] });
      const found = await db.getRows(Types, [1, 2, 3]);
      for (const row of rows) {
        const back = found.get(row.id);
        assert.ok(back, `row ${row.id} missing`);
        // Buffers come back; compare bytes as arrays.
        assert.deepEqual({ ...back, bytes: [...back.bytes] }, { ...row, bytes: [...row.bytes] });
      }
    });

    test("getRows takes many keys (duplicates, missing ones) in few queries; getByIndex by value and by NULL", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("reads"));
      await syncSchema(db, [P]);
      const changes: ChangeOf<Players>[] = Array.from({ length: 1500 }, (_, i) => ({
        kind: "insert",
        row: { id: BigInt(i), name: `p${i}`, guild: i % 3 === 0 ? null : i % 7 },
      }));
      assert.equal((await db.applyBatch(P, changes)).applied, 1500);
      const keys = [...Array.from({ length: 1200 }, (_, i) => BigInt(i * 2)), 5n, 5n, 99999n];
      const found = await db.getRows(P, keys);
      assert.equal(found.size, 750 + 1);
      assert.deepEqual(found.get(8n), { id: 8n, name: "p8", level: 1, guild: 1 });
      assert.equal(found.has(99999n), false);
      const guild2 = await db.getByIndex(P, "guild", 2);
      assert.ok(guild2.length > 100 && guild2.every((r) => r.guild === 2));
      assert.deepEqual(
        guild2.map((r) => r.id),
        [...guild2.map((r) => r.id)].sort((a, b) => Number(a - b)),
      );
      const noGuild = await db.getByIndex(P, "guild", null, { limit: 10 });
      assert.equal(noGuild.length, 10);
      assert.ok(noGuild.every((r) => r.guild === null));
      assert.deepEqual(await db.getByIndex(P, "name", "p7"), [{ id: 7n, name: "p7", level: 1, guild: 0 }]);
      await assert.rejects(db.getByIndex(P, "level", 1), TableDefinitionError);
      await assert.rejects(db.getByIndex(P, "guild", "2" as unknown as number), RowValidationError);
      await assert.rejects(db.getRows(P, [1 as unknown as bigint]), RowValidationError);
    });

    test("applyBatch: rows violating constraints among many are reported, every other row lands", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("faults"));
      await syncSchema(db, [P]);
      await db.applyBatch(P, [{ kind: "insert", row: { id: 0n, name: "taken" } }]);
      const changes: ChangeOf<Players>[] = [];
      for (let i = 1; i <= 1000; i++) changes.push({ kind: "insert", row: { id: BigInt(i), name: `n${i}` } });
      changes[400] = { kind: "insert", row: { id: 401n, name: "taken" } }; // unique index
      changes[700] = { kind: "insert", row: { id: 0n, name: "dup key" } }; // primary key
      changes.push({ kind: "update", pk: 5n, columns: { name: "taken" } }); // unique index, as an update
      changes.push({ kind: "update", pk: 6n, columns: { level: 60 } });
      changes.push({ kind: "upsert", row: { id: 7n, name: "n8" } }); // upsert clashing with another row's unique name
      changes.push({ kind: "delete", pk: 9n });
      const result = await db.applyBatch(P, changes);
      assert.equal(result.applied, changes.length - 4);
      assert.deepEqual(
        result.rejected.map((r) => r.change),
        [changes[400], changes[700], changes[1000], changes[1002]],
      );
      for (const { error } of result.rejected) {
        assert.ok(error instanceof ChangeRejectedError, String(error));
        assert.ok(error.code !== undefined && error.message.length > 0);
      }
      assert.match(result.rejected[0]?.error.message ?? "", /unique|duplicate/i);
      const rows = await allRows(db, P);
      assert.equal(rows.length, 1 + 1000 - 2 - 1);
      const byId = new Map(rows.map((r) => [r.id, r]));
      assert.equal(byId.get(0n)?.name, "taken");
      assert.equal(byId.has(401n), false);
      assert.equal(byId.get(5n)?.name, "n5");
      assert.equal(byId.get(6n)?.level, 60);
      assert.equal(byId.get(7n)?.name, "n7", "the clashing upsert changed nothing");
      assert.equal(byId.get(8n)?.name, "n8", "nor the row it clashed with");
      assert.equal(byId.has(9n), false);
    });

    test("applyBatch validates before any SQL: unknown columns and wrong types are rejected and never sent", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      // Never synced: any SQL sent for it would fail.
      const Missing = players(sut.tableName("absent"));
      const bad = [
        { kind: "update", pk: 1n, columns: { nmae: "x" } },
        { kind: "update", pk: 1n, columns: { level: "9" } },
        { kind: "insert", row: { id: 2n, name: null } },
        { kind: "upsert", row: { id: 3, name: "x" } },
        { kind: "delete", pk: "4" },
        { kind: "truncate" },
      ] as unknown as ChangeOf<Players>[];
      const result = await db.applyBatch(Missing, bad);
      assert.equal(result.applied, 0);
      assert.deepEqual(
        result.rejected.map((r) => r.change),
        bad,
      );
      assert.ok(result.rejected.every((r) => r.error instanceof RowValidationError));
      assert.deepEqual(
        result.rejected.map((r) => r.error.message),
        [
          `${Missing.name}: unknown column "nmae" (columns: id, name, level, guild)`,
          `${Missing.name}: column "level": expected a 32-bit integer, received string`,
          `${Missing.name}: column "name": null in a not-null column`,
          `${Missing.name}: column "id": expected a 64-bit bigint, received number 3`,
          `${Missing.name}: primary key "id": expected a 64-bit bigint, received string`,
          `${Missing.name}: unknown change kind "truncate"; expected insert, update, upsert or delete`,
        ],
      );
      // A valid change does reach the database, which fails for a reason that is not the row's: nothing applied.
      await assert.rejects(db.applyBatch(Missing, [...bad, { kind: "insert", row: { id: 1n, name: "ok" } }]), (e: unknown) => {
        assert.ok(e instanceof BatchFailedError);
        assert.match(e.message, /nothing applied \(rolled back\)/);
        return true;
      });
    });

    test("replaying a batch of upserts leaves the same rows (the journal relies on it)", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("replay"));
      await syncSchema(db, [P]);
      const upserts: ChangeOf<Players>[] = [];
      for (let i = 0; i < 600; i++) upserts.push({ kind: "upsert", row: { id: BigInt(i % 400), name: `u${i}`, guild: i } });
      upserts.push({ kind: "upsert", row: { id: 3n, name: "partial" } }); // only these columns: guild keeps its value
      upserts.push({ kind: "update", pk: 4n, columns: { level: 44 } });
      upserts.push({ kind: "delete", pk: 5n });
      const first = await db.applyBatch(P, upserts);
      assert.deepEqual(first, { applied: upserts.length, rejected: [] });
      const once = await allRows(db, P);
      const second = await db.applyBatch(P, upserts);
      assert.deepEqual(second, { applied: upserts.length, rejected: [] });
      assert.deepEqual(await allRows(db, P), once);
      assert.equal(once.length, 399);
      assert.deepEqual(
        once.find((r) => r.id === 3n),
        { id: 3n, name: "partial", level: 1, guild: 403 },
      );
      assert.deepEqual(
        once.find((r) => r.id === 10n),
        { id: 10n, name: "u410", level: 1, guild: 410 },
      );
    });

    test("many updates share statements: only the given columns change, NULLs are written, the later update of a row wins", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const Names = defineTable(sut.tableName("updates"), {
        columns: { key: column.text({ maxLength: 16 }), hp: column.integer(), note: column.text().nullable(), seen: column.timestamp().nullable() },
        primaryKey: "key",
      });
      await syncSchema(db, [Names]);
      const keys = Array.from({ length: 700 }, (_, i) => `k${i}`);
      await db.applyBatch(
        Names,
        keys.map((key) => ({ kind: "insert", row: { key, hp: 1, note: "n", seen: new Date(0) } })),
      );
      const result = await db.applyBatch(Names, [
        ...keys.map((key, i) => ({ kind: "update" as const, pk: key, columns: { hp: i, note: i % 2 === 0 ? null : `odd ${i}` } })),
        { kind: "update", pk: "k1", columns: { hp: -1, note: "again" } },
        { kind: "update", pk: "K2", columns: { hp: -2, note: "no such key (keys compare case-sensitively)" } },
      ]);
      assert.deepEqual(result, { applied: 702, rejected: [] });
      const rows = await db.getRows(Names, keys);
      assert.deepEqual(rows.get("k0"), { key: "k0", hp: 0, note: null, seen: new Date(0) });
      assert.deepEqual(rows.get("k1"), { key: "k1", hp: -1, note: "again", seen: new Date(0) });
      assert.deepEqual(rows.get("k2"), { key: "k2", hp: 2, note: null, seen: new Date(0) });
      assert.deepEqual(rows.get("k699"), { key: "k699", hp: 699, note: "odd 699", seen: new Date(0) });
    });

    test("one batch over several tables keeps the order of its changes", async (t) => {
      const db = await sut.open(t);
      if (!db) return;
      const P = players(sut.tableName("multi_p"));
      const Bags = defineTable(sut.tableName("multi_b"), {
        columns: { id: column.bigint(), items: column.json<string[]>().default([]) },
        primaryKey: "id",
      });
      await syncSchema(db, [P, Bags]);
      const tables = [P, Bags] as const;
      const pRow: InsertOf<Players> = { id: 1n, name: "one" };
      const result = await db.applyBatch(tables, [
        { table: P.name, kind: "insert", row: pRow },
        { table: Bags.name, kind: "insert", row: { id: 1n } },
        { table: P.name, kind: "update", pk: 1n, columns: { level: 2 } },
        { table: Bags.name, kind: "update", pk: 1n, columns: { items: ["sword"] } },
        { table: P.name, kind: "insert", row: { id: 2n, name: "two" } },
        { table: P.name, kind: "delete", pk: 2n },
      ]);
      assert.deepEqual(result, { applied: 6, rejected: [] });
      assert.deepEqual([...(await db.getRows(P, [1n, 2n])).values()], [{ id: 1n, name: "one", level: 2, guild: null }]);
      assert.deepEqual((await db.getRows(Bags, [1n])).get(1n), { id: 1n, items: ["sword"] });
    });
  });
}
