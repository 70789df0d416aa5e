/**
 * The entity cache of one node: rows held in memory, changed there, written back to SQL in
 * batched transactions — on an interval, on demand, when memory is short, and at close. With a
 * journal, a change is acknowledged only once its record is durable, and opening the cache
 * replays what the database had not received before a crash. Guarantees: docs/data.md.
 */
import type { Logger } from "../../log/logger.ts";
import type { Journal } from "../journal/index.ts";
import type { Database } from "../sql/database.ts";
import type { TableChangeOf } from "../sql/rows.ts";
import type { AnyTable } from "../sql/table.ts";
import { decodeRecord, encodeRecord, Op, type CacheRecord } from "./record.ts";
import { OwnerGate } from "./owner-gate.ts";
import type { Ownership } from "./ownership.ts";
import { TableCache, type CacheHost, type FlushItem } from "./table-cache.ts";

export interface EntityCacheOptions {
  db: Database;
  /** Every table the cache serves (replay needs them all). */
  tables: readonly AnyTable[];
  /** Without one, changes are acknowledged at once and a crash loses what was not yet written back. */
  journal?: Journal;
  /** Write back this often (default 1000 ms). */
  flushIntervalMs?: number;
  /** Cached rows over all tables; beyond it clean rows are evicted, roughly least recently used first (CLOCK; default 100 000). */
  maxEntities?: number;
  /** Rows changed and not yet written; a change beyond it waits for a flush (default 50 000). */
  maxDirty?: number;
  /** How long a change may wait for room before it is refused with CacheBackpressureError (default 5000 ms). */
  maxWaitMs?: number;
  /** Keys reserved at once by `nextId` (default 1000; a node that stops loses the rest of its block). */
  idBlockSize?: number;
  /**
   * With several nodes on one database: one owner per entity (e.g. `RedisOwnership`). Each
   * operation then runs under the entity's lease, and a hand-over writes the entity back first.
   * The cache closes it at `close()`.
   */
  ownership?: Ownership;
  logger?: Logger;
}

/** The database has fallen behind: more unwritten rows than `maxDirty`, for longer than `maxWaitMs`. */
export class CacheBackpressureError extends Error {
  override readonly name = "CacheBackpressureError";
}

export interface EntityCacheStats {
  entities: number;
  dirty: number;
  flushes: number;
  rowsWritten: number;
  /** Changes the database refused (constraint violations): reported and dropped. */
  rejected: number;
  /** Flushes that failed as a whole (database down, timeout); their rows stay dirty and are retried. */
  failures: number;
  lastError: string | null;
  evicted: number;
  /** Journal records replayed when the cache opened. */
  replayed: number;
}

/** A change of a write-back or replay batch, naming its table. */
type TableChange = TableChangeOf<readonly AnyTable[]>;

const REPLAY_BATCH = 5000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 10_000;

export class EntityCache {
  private readonly tables = new Map<string, TableCache<AnyTable>>();
  private readonly options: Required<Omit<EntityCacheOptions, "journal" | "logger" | "ownership">> & Pick<EntityCacheOptions, "journal" | "logger" | "ownership">;
  private readonly counters: Omit<EntityCacheStats, "entities" | "dirty"> = { flushes: 0, rowsWritten: 0, rejected: 0, failures: 0, lastError: null, evicted: 0, replayed: 0 };
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> | null = null;
  private retryMs = 0;
  /** A checkpoint that failed (full disk) is tried again no sooner than this, with its own backoff. */
  private checkpointRetryAt = 0;
  private checkpointBackoffMs = 0;
  /** Highest journal seq whose change is in memory (everything below it is applied or owed). */
  private appliedSeq = 0;
  private closed = false;
  private readonly host: CacheHost;

  private constructor(options: EntityCacheOptions) {
    this.options = { flushIntervalMs: 1000, maxEntities: 100_000, maxDirty: 50_000, maxWaitMs: 5000, idBlockSize: 1000, ...options };
    this.host = {
      db: options.db,
      commit: (record) => this.commit(record),
      touched: () => this.maybeEvict(),
      idBlockSize: this.options.idBlockSize,
      owner: options.ownership === undefined ? null : new OwnerGate(options.ownership, () => this.flush(), options.logger),
    };
    for (const table of options.tables) {
      if (this.tables.has(table.name)) throw new Error(`table "${table.name}" is given twice`);
      this.tables.set(table.name, new TableCache(table, this.host));
    }
  }

  /** Open the cache: replay the journal into the database (before anything is served), then start writing back. */
  static async open(options: EntityCacheOptions): Promise<EntityCache> {
    const cache = new EntityCache(options);
    await cache.replay();
    cache.host.owner?.listen();
    cache.schedule(cache.options.flushIntervalMs);
    return cache;
  }

  /** The cache of one declared table. */
  table<T extends AnyTable>(table: T): TableCache<T> {
    const cached = this.tables.get(table.name);
    if (cached === undefined || cached.table !== table) throw new Error(`table "${table.name}" is not one of this cache's tables`);
    return cached as unknown as TableCache<T>;
  }

  get stats(): EntityCacheStats {
    return { entities: this.cachedRows(), dirty: this.dirtyRows(), ...this.counters };
  }

  /** Rows cached over all tables (summed on demand: a few tables, and no counter to keep in step). */
  private cachedRows(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.size;
    return n;
  }

  private dirtyRows(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.dirtyCount;
    return n;
  }

  /** Write back everything changed so far; resolves when it is in the database (rejects if the database fails). */
  async flush(): Promise<void> {
    while (this.flushing !== null) await this.flushing.catch(() => undefined);
    this.flushing = this.writeBack().finally(() => (this.flushing = null));
    await this.flushing;
  }

  /** Stop the timer and write back what is left (then the journal may be closed). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    // Everything is written back: the leases can go.
    await this.options.ownership?.close();
  }

  // ---- changes ----

  private async commit(record: CacheRecord): Promise<number> {
    if (this.closed) throw new Error("the entity cache is closed");
    await this.roomForChange();
    const journal = this.options.journal;
    if (journal === undefined) return 0;
    const seq = await journal.append(encodeRecord(record));
    // Appends resolve in seq order, and the caller applies the change right after this resolves.
    this.appliedSeq = seq;
    return seq;
  }

  private async roomForChange(): Promise<void> {
    // On every change: count without building the stats object.
    if (this.dirtyRows() < this.options.maxDirty) return;
    const deadline = Date.now() + this.options.maxWaitMs;
    while (this.dirtyRows() >= this.options.maxDirty) {
      if (Date.now() >= deadline) {
        throw new CacheBackpressureError(`${this.dirtyRows()} rows wait to be written (limit ${this.options.maxDirty}); the database is not keeping up${this.counters.lastError ? `: ${this.counters.lastError}` : ""}`);
      }
      await Promise.race([this.flush().catch(() => undefined), new Promise((r) => setTimeout(r, Math.max(1, Math.min(100, deadline - Date.now()))))]);
    }
  }

  // ---- write-back ----

  private async writeBack(): Promise<void> {
    const batches: { cache: TableCache<AnyTable>; items: FlushItem<AnyTable>[] }[] = [];
    for (const cache of this.tables.values()) {
      const items = cache.takeFlush();
      if (items.length > 0) batches.push({ cache, items });
    }
    if (batches.length === 0) {
      await this.checkpoint();
      return;
    }
    const all = batches.flatMap(({ items }) => items);
    const changes: TableChange[] = all.map((item) => item.change);
    const refused = new Set<FlushItem<AnyTable>>();
    try {
      const result = await this.options.db.applyBatch(
        batches.map((b) => b.cache.table),
        changes,
      );
      for (const { change, error } of result.rejected) {
        // Rare: a linear search is fine.
        refused.add(all.find((item) => item.change === change)!);
        this.counters.rejected++;
        this.options.logger?.error("write-back: the database refused a change; it is dropped", { table: change.table, kind: change.kind, error: error.message });
      }
      this.counters.flushes++;
      this.counters.rowsWritten += result.applied;
      this.counters.lastError = null;
      this.retryMs = 0;
    } catch (error) {
      for (const { cache, items } of batches) cache.flushed(items, refused, false);
      this.counters.failures++;
      this.counters.lastError = error instanceof Error ? error.message : String(error);
      this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
      this.options.logger?.warn("write-back failed; the rows stay dirty and are retried", { rows: changes.length, retryMs: this.retryMs, error: this.counters.lastError });
      throw error;
    }
    for (const { cache, items } of batches) cache.flushed(items, refused, true);
    await this.checkpoint();
    this.maybeEvict();
  }

  /**
   * Tell the journal what the database now holds: everything below the oldest change still owed.
   * A checkpoint that cannot be written (a full disk) loses nothing — the rows are in the
   * database, and replaying them again is harmless — so it is counted, logged and tried again at
   * the next write-back after a backoff, not thrown at whoever flushed.
   */
  private async checkpoint(): Promise<void> {
    const journal = this.options.journal;
    if (journal === undefined || Date.now() < this.checkpointRetryAt) return;
    let oldest = Infinity;
    for (const cache of this.tables.values()) oldest = Math.min(oldest, cache.oldestUnwritten());
    const safe = oldest === Infinity ? this.appliedSeq : oldest - 1;
    if (safe <= journal.stats.checkpoint) return;
    try {
      await journal.checkpoint(safe);
      this.checkpointBackoffMs = 0;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.counters.failures++;
      if (this.counters.lastError !== message) this.options.logger?.warn("journal checkpoint failed; the database has the rows, retried later", { error: message });
      this.counters.lastError = message;
      this.checkpointBackoffMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.checkpointBackoffMs * 2));
      this.checkpointRetryAt = Date.now() + this.checkpointBackoffMs;
    }
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().then(
        () => this.schedule(this.options.flushIntervalMs),
        () => this.schedule(this.retryMs),
      );
    }, ms);
    this.timer.unref();
  }

  private maybeEvict(): void {
    const max = this.options.maxEntities;
    const total = this.cachedRows();
    if (total <= max) return;
    // Each table gives up its share of the excess, oldest first with a second chance for rows read since.
    let blocked = 0;
    for (const cache of this.tables.values()) {
      const share = Math.ceil(((total - max) * cache.size) / total);
      const result = cache.evict(cache.size - share);
      this.counters.evicted += result.dropped;
      blocked += result.blocked;
    }
    // Unwritten rows stood in the way: write them back so they can go next time.
    if (blocked > 0 && this.flushing === null) void this.flush().catch(() => undefined);
  }

  // ---- recovery ----

  /** Journal records not yet checkpointed go to the database, in order, before the cache serves anything. */
  private async replay(): Promise<void> {
    const journal = this.options.journal;
    if (journal === undefined) return;
    let batch: TableChange[] = [];
    let last = 0;
    const write = async (): Promise<void> => {
      if (batch.length === 0) return;
      const result = await this.options.db.applyBatch([...this.tables.values()].map((t) => t.table), batch);
      for (const { error } of result.rejected) this.options.logger?.error("replay: the database refused a journaled change; it is dropped", { error: error.message });
      this.counters.replayed += batch.length;
      batch = [];
      await journal.checkpoint(last);
    };
    for await (const { seq, payload } of journal.replay()) {
      const record = decodeRecord(payload);
      const cache = this.tables.get(record.table);
      if (cache === undefined) throw new Error(`the journal holds a change to table "${record.table}", which this cache does not serve`);
      // Absolute values: a record whose change already reached the database writes the same again.
      if (record.op === Op.Create) batch.push({ table: record.table, kind: "upsert", row: record.data ?? {} });
      else if (record.op === Op.Update) batch.push({ table: record.table, kind: "update", pk: record.pk, columns: record.data ?? {} });
      else batch.push({ table: record.table, kind: "delete", pk: record.pk });
      last = seq;
      if (batch.length >= REPLAY_BATCH) await write();
    }
    await write();
    this.appliedSeq = journal.stats.lastSeq;
  }
}
