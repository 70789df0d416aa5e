/**
 * Data-layer benchmarks (issue 5), measured in this process — the data layer is a library:
 *
 * 1. a cached `get` against a direct SQL read of the same row, per backend;
 * 2. the cost of an acknowledged `update` under each journal fsync policy (SQLite);
 * 3. write-back throughput: N dirty rows (updates of distinct rows, then creates) written by
 *    `cache.flush()`, per backend;
 * 4. journal replay: pending changes in a journal, replayed into the database by opening a
 *    fresh EntityCache on it.
 *
 * A backend that cannot be reached gives rows that say "skipped: <reason>". Tables get a random
 * suffix and are dropped at the end; the temp folder (SQLite file, journals) is removed.
 * Tables and verdicts: bench/data-report.ts. Method: docs/benchmarks.md, "Data layer".
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { EntityCache } from "../src/data/cache/index.ts";
import { encodeRecord, Op } from "../src/data/cache/record.ts";
import { Journal, type FsyncPolicy } from "../src/data/journal/index.ts";
import { column, defineTable, openDatabase, syncSchema, type BatchResult, type Database, type SqlDialect } from "../src/data/index.ts";
import { Histogram } from "./histogram.ts";
import type { Options } from "./options.ts";

export const DATA_BACKENDS: readonly SqlDialect[] = ["sqlite", "postgres", "mysql"];
/** Backends whose write-back and replay figures count toward the targets (MySQL/MariaDB is shown for information). */
export const TARGET_BACKENDS: readonly SqlDialect[] = ["sqlite", "postgres"];
export const DATA_TARGETS = { minReadRatio: 50, minWriteBackRowsPerS: 50_000 } as const;

export interface DataSettings {
  backends: readonly SqlDialect[];
  /** Rows in the read table (random keys). */
  readRows: number;
  /** Write-back: this many updates of distinct rows, then this many creates. */
  writeBackRows: number;
  /** Journal replay: this many pending changes (half updates, half creates). */
  replayChanges: number;
  /** Measured time per read and per update cell (ms). */
  cellMs: number;
  /** Write CPU profiles of the flushes and replays here (null: none). */
  profileDir: string | null;
}

export interface ReadRow {
  backend: SqlDialect;
  skipped: string | null;
  rows: number;
  sqlReads: number;
  sqlUs: number;
  cachedReads: number;
  cachedUs: number;
  ratio: number;
}

export interface UpdateRow {
  policy: string;
  writers: number;
  acked: number;
  updatesPerS: number;
  /** Mean time from update() to its acknowledgement. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
  /** Process CPU (user + system) per acknowledged update. */
  cpuUs: number;
  fsyncsPerS: number;
}

export interface WriteBackRow {
  backend: SqlDialect;
  skipped: string | null;
  kind: "update" | "create";
  rows: number;
  ms: number;
  rowsPerS: number;
  /** Time inside db.applyBatch (the rest is the cache's own work around it). */
  applyBatchMs: number;
  /** This process's CPU during the flush, % of one core (below 100: waiting for the database). */
  cpuPct: number;
}

export interface ReplayRow {
  backend: SqlDialect;
  skipped: string | null;
  changes: number;
  journalOpenMs: number;
  replayMs: number;
  rowsPerS: number;
  cpuPct: number;
}

export interface DataResult {
  settings: DataSettings;
  reads: ReadRow[];
  updates: UpdateRow[];
  writeBack: WriteBackRow[];
  replay: ReplayRow[];
}

/** The data section's settings from the command line (see USAGE in bench/options.ts). */
export function dataSettings(o: Options): DataSettings {
  const backends = o.dataBackends.map((b) => {
    const dialect = DATA_BACKENDS.find((d) => d === b);
    if (dialect === undefined) throw new Error(`--data-backends: unknown backend "${b}" (expected ${DATA_BACKENDS.join(", ")})`);
    return dialect;
  });
  return {
    backends,
    readRows: Math.min(10_000, o.dataRows),
    writeBackRows: o.dataRows,
    replayChanges: 2 * o.dataRows,
    cellMs: o.dataMs,
    profileDir: o.profile ? fileURLToPath(new URL("./.profiles/data/", import.meta.url)) : null,
  };
}

const URLS: Record<SqlDialect, (dir: string) => string> = {
  sqlite: (dir) => `sqlite:${join(dir, "bench.db")}`,
  postgres: () => "postgres://postgres@127.0.0.1:5432/test",
  mysql: () => "mysql://root@127.0.0.1:3306/test",
};
const WHERE: Record<SqlDialect, string> = { sqlite: "a temp file", postgres: "127.0.0.1:5432", mysql: "127.0.0.1:3306" };
const CONNECT_TIMEOUT_MS = 3000;
/** Never flush on the timer: every write-back in this bench is an explicit, timed flush. */
const NO_TIMER_MS = 3_600_000;
const SETUP_BATCH = 5000;

function benchTable(name: string) {
  return defineTable(name, {
    columns: {
      id: column.integer(),
      name: column.text({ maxLength: 32 }),
      level: column.integer().default(1),
      gold: column.integer().default(0),
      guild: column.integer().nullable(),
    },
    primaryKey: "id",
    indexes: [{ columns: ["guild"] }],
  });
}
type BenchTable = ReturnType<typeof benchTable>;

/** One opened backend and the tables made on it. */
class Backend {
  private readonly tables: string[] = [];
  private readonly suffix = Math.random().toString(36).slice(2, 8);
  constructor(
    readonly dialect: SqlDialect,
    readonly db: Database,
  ) {}

  async table(purpose: string): Promise<BenchTable> {
    const name = `bench_${purpose}_${this.suffix}`;
    this.tables.push(name);
    const table = benchTable(name);
    await syncSchema(this.db, [table]);
    return table;
  }

  async close(): Promise<void> {
    try {
      for (const name of this.tables) await this.db.kysely.schema.dropTable(name).ifExists().execute();
    } finally {
      await this.db.close();
    }
  }
}

type Opened = Backend | { dialect: SqlDialect; skipped: string };

async function openBackend(dialect: SqlDialect, dir: string): Promise<Opened> {
  try {
    return new Backend(dialect, await openDatabase({ url: URLS[dialect](dir), connectTimeoutMs: CONNECT_TIMEOUT_MS }));
  } catch (error) {
    return { dialect, skipped: `${dialect} unreachable at ${WHERE[dialect]}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

// ---- helpers ----

/** `count` distinct random positive 31-bit keys. */
function randomIds(count: number): number[] {
  const ids = new Set<number>();
  while (ids.size < count) ids.add(1 + Math.floor(Math.random() * 0x7fff_fffe));
  return [...ids];
}

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function insertRows(db: Database, table: BenchTable, ids: readonly number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += SETUP_BATCH) {
    const changes = ids.slice(i, i + SETUP_BATCH).map((id) => ({ kind: "insert" as const, row: { id, name: `p${id}`, level: 1, gold: 0, guild: id % 100 } }));
    const result = await db.applyBatch(table, changes);
    if (result.rejected.length > 0) throw new Error(`setup insert refused: ${result.rejected[0]!.error.message}`);
  }
}

async function countRows(db: Database, table: BenchTable): Promise<number> {
  const result = await sql<{ n: number | string | bigint }>`SELECT COUNT(*) AS n FROM ${sql.table(table.name)}`.execute(db.kysely);
  return Number(result.rows[0]?.n ?? -1);
}

/** Run `fn` over `items`, at most `concurrency` at a time. */
async function eachConcurrent<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Sequential operations over `keys` (cycled) for `ms`: how many ran, and the time they took. */
async function sequential(ms: number, keys: readonly number[], op: (key: number) => Promise<unknown>): Promise<{ ops: number; ms: number }> {
  const started = performance.now();
  const deadline = started + ms;
  let ops = 0;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 16; i++) await op(keys[ops++ % keys.length]!);
    now = performance.now();
  }
  return { ops, ms: now - started };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

/** Time `work`; with a profile folder, record a CPU profile of it there. */
async function timed<R>(profileDir: string | null, name: string, work: () => Promise<R>): Promise<{ result: R; ms: number; cpuPct: number }> {
  let session: Session | null = null;
  if (profileDir !== null) {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  const cpuPct = (100 * cpuMs(cpu)) / ms;
  if (session !== null && profileDir !== null) {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    mkdirSync(profileDir, { recursive: true });
    writeFileSync(join(profileDir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
  return { result, ms, cpuPct };
}

/** Count the time spent inside db.applyBatch while `work` runs (the bench wraps the instance method). */
async function withApplyBatchTimer<R>(db: Database, work: () => Promise<R>): Promise<{ result: R; applyBatchMs: number }> {
  type Apply = (tables: unknown, changes: unknown) => Promise<BatchResult<unknown>>;
  const target = db as unknown as { applyBatch: Apply };
  const inner: Apply = target.applyBatch.bind(db);
  let spent = 0;
  target.applyBatch = async (tables, changes) => {
    const started = performance.now();
    try {
      return await inner(tables, changes);
    } finally {
      spent += performance.now() - started;
    }
  };
  try {
    return { result: await work(), applyBatchMs: spent };
  } finally {
    delete (target as Partial<{ applyBatch: Apply }>).applyBatch; // back to the prototype's method
  }
}

// ---- 1. cached get vs SQL read ----

async function reads(b: Backend, s: DataSettings): Promise<ReadRow> {
  const table = await b.table("reads");
  const ids = randomIds(s.readRows);
  await insertRows(b.db, table, ids);
  const cache = await EntityCache.open({ db: b.db, tables: [table], flushIntervalMs: NO_TIMER_MS, maxEntities: Math.max(100_000, 2 * ids.length) });
  try {
    const rows = cache.table(table);
    const warm = await rows.getMany(ids);
    if (warm.size !== ids.length || cache.stats.entities !== ids.length) throw new Error(`cache warm-up: ${warm.size} of ${ids.length} rows`);
    const keys = shuffled(ids);
    const sqlRead = async (pk: number) => {
      if (!(await b.db.getRows(table, [pk])).has(pk)) throw new Error(`row ${pk} not found`);
    };
    const cachedRead = async (pk: number) => {
      if ((await rows.get(pk)) === undefined) throw new Error(`row ${pk} not cached`);
    };
    // Warm-up, then two interleaved halves of each, so a noisy moment hits both alike.
    const warmMs = Math.min(200, s.cellMs / 5);
    await sequential(warmMs, keys, sqlRead);
    await sequential(warmMs, keys, cachedRead);
    const sqlRuns = { ops: 0, ms: 0 };
    const cachedRuns = { ops: 0, ms: 0 };
    for (let half = 0; half < 2; half++) {
      for (const [acc, op] of [
        [sqlRuns, sqlRead],
        [cachedRuns, cachedRead],
      ] as const) {
        const r = await sequential(s.cellMs / 2, keys, op);
        acc.ops += r.ops;
        acc.ms += r.ms;
      }
    }
    if (cache.stats.entities !== ids.length) throw new Error("the cache read through during the measurement");
    const sqlUs = (1000 * sqlRuns.ms) / sqlRuns.ops;
    const cachedUs = (1000 * cachedRuns.ms) / cachedRuns.ops;
    return { backend: b.dialect, skipped: null, rows: ids.length, sqlReads: sqlRuns.ops, sqlUs, cachedReads: cachedRuns.ops, cachedUs, ratio: sqlUs / cachedUs };
  } finally {
    await cache.close();
  }
}

// ---- 2. update cost per fsync policy ----

export const POLICIES: readonly { label: string; fsync: FsyncPolicy | null }[] = [
  { label: `journal fsync "always"`, fsync: "always" },
  { label: "journal fsync { groupMs: 5 }", fsync: { groupMs: 5 } },
  { label: `journal fsync "off"`, fsync: "off" },
  { label: "no journal", fsync: null },
];
export const WRITERS = [1, 64] as const;

async function updateCell(b: Backend, table: BenchTable, ids: readonly number[], dir: string, policy: (typeof POLICIES)[number], writers: number, s: DataSettings): Promise<UpdateRow> {
  const journal = policy.fsync === null ? undefined : await Journal.open(dir, { fsync: policy.fsync });
  const cache = await EntityCache.open({
    db: b.db,
    tables: [table],
    flushIntervalMs: NO_TIMER_MS,
    maxEntities: Math.max(100_000, 2 * ids.length),
    maxDirty: 2 * ids.length,
    ...(journal === undefined ? {} : { journal }),
  });
  try {
    const rows = cache.table(table);
    await rows.getMany(ids); // all cached: the cell measures the update, not a read-through
    const histogram = new Histogram();
    let gold = 0;
    const run = async (ms: number, record: boolean): Promise<{ acked: number; ms: number; cpuMs: number; syncs: number }> => {
      const syncs = journal?.stats.syncs ?? 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const deadline = started + ms;
      let acked = 0;
      const writer = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const pk = ids[Math.floor(Math.random() * ids.length)]!;
          const t0 = performance.now();
          await rows.update(pk, { gold: ++gold });
          if (record) histogram.record((performance.now() - t0) * 1000);
          acked++;
        }
      };
      await Promise.all(Array.from({ length: writers }, writer));
      return { acked, ms: performance.now() - started, cpuMs: cpuMs(cpu), syncs: (journal?.stats.syncs ?? 0) - syncs };
    };
    await run(Math.min(200, s.cellMs / 5), false);
    const r = await run(s.cellMs, true);
    return {
      policy: policy.label,
      writers,
      acked: r.acked,
      updatesPerS: (1000 * r.acked) / r.ms,
      meanUs: (1000 * r.ms * writers) / r.acked,
      p50Us: histogram.quantile(0.5),
      p99Us: histogram.quantile(0.99),
      cpuUs: (1000 * r.cpuMs) / r.acked,
      fsyncsPerS: (1000 * r.syncs) / r.ms,
    };
  } finally {
    await cache.close(); // writes back the cell's dirty rows (untimed)
    await journal?.close();
  }
}

async function updates(b: Backend, dir: string, s: DataSettings, log: (line: string) => void): Promise<UpdateRow[]> {
  const table = await b.table("updates");
  const ids = randomIds(s.readRows);
  await insertRows(b.db, table, ids);
  const out: UpdateRow[] = [];
  let cell = 0;
  for (const policy of POLICIES) {
    for (const writers of WRITERS) {
      log(`data: update, ${policy.label}, ${writers} writer(s)`);
      out.push(await updateCell(b, table, ids, join(dir, `journal-update-${cell++}`), policy, writers, s));
    }
  }
  return out;
}

// ---- 3. write-back ----

async function writeBack(b: Backend, s: DataSettings): Promise<WriteBackRow[]> {
  const table = await b.table("writeback");
  const n = s.writeBackRows;
  const existing = Array.from({ length: n }, (_, i) => i + 1);
  const created = Array.from({ length: n }, (_, i) => n + i + 1);
  await insertRows(b.db, table, existing);
  const cache = await EntityCache.open({ db: b.db, tables: [table], flushIntervalMs: NO_TIMER_MS, maxEntities: 4 * n, maxDirty: 2 * n + 1 });
  const out: WriteBackRow[] = [];
  try {
    const rows = cache.table(table);
    // Every key cached beforehand (the new ones as known absent), so no change reads through.
    for (let i = 0; i < n; i += SETUP_BATCH) await rows.getMany([...existing.slice(i, i + SETUP_BATCH), ...created.slice(i, i + SETUP_BATCH)]);
    const flush = async (kind: WriteBackRow["kind"]): Promise<void> => {
      if (cache.stats.dirty !== n) throw new Error(`${kind}: ${cache.stats.dirty} dirty rows, expected ${n}`);
      const before = cache.stats.rowsWritten;
      const { result, ms, cpuPct } = await timed(s.profileDir, `writeback-${kind}-${b.dialect}`, () => withApplyBatchTimer(b.db, () => cache.flush()));
      const written = cache.stats.rowsWritten - before;
      if (written !== n || cache.stats.dirty !== 0) throw new Error(`${kind}: wrote ${written} of ${n} rows (${cache.stats.rejected} refused, last error ${cache.stats.lastError})`);
      out.push({ backend: b.dialect, skipped: null, kind, rows: n, ms, rowsPerS: (1000 * n) / ms, applyBatchMs: result.applyBatchMs, cpuPct });
    };
    await eachConcurrent(shuffled(existing), 64, (id) => rows.update(id, { gold: id % 1000, level: 2 }));
    await flush("update");
    await eachConcurrent(created, 64, (id) => rows.create({ id, name: `n${id}`, guild: id % 100 }));
    await flush("create");
    const count = await countRows(b.db, table);
    if (count !== 2 * n) throw new Error(`write-back: the table holds ${count} rows, expected ${2 * n}`);
    return out;
  } finally {
    await cache.close();
  }
}

// ---- 4. journal replay ----

async function replay(b: Backend, dir: string, s: DataSettings): Promise<ReplayRow> {
  const table = await b.table("replay");
  const half = Math.floor(s.replayChanges / 2);
  const existing = Array.from({ length: half }, (_, i) => i + 1);
  await insertRows(b.db, table, existing);
  // The records the cache journals before acknowledging a change (src/data/cache/record.ts):
  // updates of every existing row, then as many creates — none of them written back.
  const records: Uint8Array[] = [];
  for (const id of existing) records.push(encodeRecord({ table: table.name, op: Op.Update, pk: id, data: { gold: id % 1000, level: 2 } }));
  for (let i = 0; i < s.replayChanges - half; i++) {
    const id = half + i + 1;
    records.push(encodeRecord({ table: table.name, op: Op.Create, pk: id, data: { id, name: `n${id}`, level: 1, gold: 0, guild: id % 100 } }));
  }
  const writer = await Journal.open(dir, { fsync: "off" });
  for (let i = 0; i < records.length; i += 1000) await Promise.all(records.slice(i, i + 1000).map((r) => writer.append(r)));
  await writer.close();

  const opened = await timed(null, "", () => Journal.open(dir, { fsync: "off" }));
  const journal = opened.result;
  try {
    const replayed = await timed(s.profileDir, `replay-${b.dialect}`, () => EntityCache.open({ db: b.db, tables: [table], journal, flushIntervalMs: NO_TIMER_MS }));
    const cache = replayed.result;
    const count = cache.stats.replayed;
    await cache.close();
    if (count !== records.length) throw new Error(`replayed ${count} of ${records.length} changes`);
    const rowsInDb = await countRows(b.db, table);
    if (rowsInDb !== records.length) throw new Error(`after replay the table holds ${rowsInDb} rows, expected ${records.length}`);
    const ms = opened.ms + replayed.ms;
    return { backend: b.dialect, skipped: null, changes: count, journalOpenMs: opened.ms, replayMs: replayed.ms, rowsPerS: (1000 * count) / ms, cpuPct: replayed.cpuPct };
  } finally {
    await journal.close();
  }
}

// ---- the section ----

const skippedRead = (backend: SqlDialect, skipped: string, rows: number): ReadRow => ({ backend, skipped, rows, sqlReads: 0, sqlUs: 0, cachedReads: 0, cachedUs: 0, ratio: 0 });
const skippedWriteBack = (backend: SqlDialect, skipped: string, kind: WriteBackRow["kind"], rows: number): WriteBackRow => ({
  backend,
  skipped,
  kind,
  rows,
  ms: 0,
  rowsPerS: 0,
  applyBatchMs: 0,
  cpuPct: 0,
});
const skippedReplay = (backend: SqlDialect, skipped: string, changes: number): ReplayRow => ({ backend, skipped, changes, journalOpenMs: 0, replayMs: 0, rowsPerS: 0, cpuPct: 0 });
const reason = (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`;

export async function dataBench(s: DataSettings, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<DataResult> {
  const dir = await mkdtemp(join(tmpdir(), "glowfly-data-bench-"));
  const backends: Opened[] = [];
  const result: DataResult = { settings: s, reads: [], updates: [], writeBack: [], replay: [] };
  try {
    for (const dialect of s.backends) backends.push(await openBackend(dialect, dir));
    for (const b of backends) {
      if (!(b instanceof Backend)) {
        log(`data: ${b.skipped}`);
        result.reads.push(skippedRead(b.dialect, `skipped: ${b.skipped}`, s.readRows));
        continue;
      }
      log(`data: reads on ${b.dialect}`);
      result.reads.push(await reads(b, s).catch((error: unknown) => skippedRead(b.dialect, reason(error), s.readRows)));
    }
    const sqlite = backends.find((b): b is Backend => b instanceof Backend && b.dialect === "sqlite");
    if (sqlite !== undefined) result.updates = await updates(sqlite, dir, s, log);
    for (const b of backends) {
      if (!(b instanceof Backend)) {
        for (const kind of ["update", "create"] as const) result.writeBack.push(skippedWriteBack(b.dialect, `skipped: ${b.skipped}`, kind, s.writeBackRows));
        continue;
      }
      log(`data: write-back of ${s.writeBackRows} updates and ${s.writeBackRows} creates on ${b.dialect}`);
      try {
        result.writeBack.push(...(await writeBack(b, s)));
      } catch (error) {
        for (const kind of ["update", "create"] as const) result.writeBack.push(skippedWriteBack(b.dialect, reason(error), kind, s.writeBackRows));
      }
    }
    let n = 0;
    for (const b of backends) {
      if (!TARGET_BACKENDS.includes(b.dialect)) continue;
      if (!(b instanceof Backend)) {
        result.replay.push(skippedReplay(b.dialect, `skipped: ${b.skipped}`, s.replayChanges));
        continue;
      }
      log(`data: journal replay of ${s.replayChanges} changes on ${b.dialect}`);
      result.replay.push(await replay(b, join(dir, `journal-replay-${n++}`), s).catch((error: unknown) => skippedReplay(b.dialect, reason(error), s.replayChanges)));
    }
    return result;
  } finally {
    for (const b of backends) if (b instanceof Backend) await b.close().catch((error: unknown) => log(`data: cleanup on ${b.dialect}: ${reason(error)}`));
    await rm(dir, { recursive: true, force: true });
  }
}
