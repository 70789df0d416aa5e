/**
 * The cached rows of one table: read-through, changed in memory with column-level dirty
 * tracking, written back by the EntityCache. Game code gets rows as read-only snapshots and
 * changes them only through create/update/delete, so the cache always knows what is dirty.
 */
import type { AnyColumn } from "../sql/columns.ts";
import type { Database } from "../sql/database.ts";
import { RowValidationError } from "../sql/errors.ts";
import type { ChangeOf } from "../sql/rows.ts";
import { patchProblems, pkProblems, rowProblems, type AnyTable, type InsertOf, type PatchOf, type PkOf, type RowOf } from "../sql/table.ts";
import { IdAllocator } from "./ids.ts";
import { Op, type CacheRecord } from "./record.ts";
import type { OwnerGate } from "./owner-gate.ts";

/** What the table asks of its cache: make a change durable before it is applied. */
export interface CacheHost {
  readonly db: Database;
  /** Journal the record (when the cache has a journal) and wait for room in the dirty set; resolves with the record's seq (0 without a journal). */
  commit(record: CacheRecord): Promise<number>;
  /** An entry was touched: the cache may evict others. */
  touched(): void;
  /** Rows per id reservation (see IdAllocator). */
  readonly idBlockSize: number;
  /** With several nodes on one database: runs each operation while this node owns the entity. */
  readonly owner: OwnerGate | null;
}

export class EntityNotFoundError extends Error {
  override readonly name = "EntityNotFoundError";
}
export class EntityExistsError extends Error {
  override readonly name = "EntityExistsError";
}

/** One cached row and what of it the database has not seen yet. */
interface Entry {
  row: Record<string, unknown> | null;
  /** Needs an upsert of the whole row (created here, not yet written). */
  created: boolean;
  /** Needs a delete. */
  deleted: boolean;
  /** Columns changed since the last write (update only). */
  dirty: Set<string> | null;
  /** Bumped on every change: a flush marks an entry clean only if it did not change meanwhile. */
  version: number;
  /** Journal seq of the oldest change not yet in the database (0: clean). */
  firstSeq: number;
  /** While a flush of this entry runs: the first seq after its snapshot (0: none). */
  seqSinceFlush: number;
  flushing: boolean;
  /** Used since the eviction sweep last passed it (CLOCK: a second chance instead of a move per read). */
  recent: boolean;
  /** Changes waiting for their journal record: the entry must stay until they are applied. */
  pins: number;
}

/** A change taken for a flush, with what to check when it lands. */
export interface FlushItem<T extends AnyTable> {
  /** Named by its table, ready for a batch over several tables. */
  change: ChangeOf<T> & { table: string };
  pk: PkOf<T>;
  version: number;
}

export class TableCache<T extends AnyTable> {
  /** Insertion order is age: eviction sweeps from the front, giving rows read since its last pass a second chance (CLOCK). */
  private readonly entries = new Map<unknown, Entry>();
  private readonly dirtyKeys = new Set<unknown>();
  /** Loads in progress, so concurrent misses of one key make one query. */
  private readonly loading = new Map<unknown, Promise<Entry>>();
  /** The tail of each key's `modify` queue. */
  private readonly queues = new Map<unknown, Promise<void>>();
  private ids: IdAllocator | null = null;

  constructor(
    readonly table: T,
    private readonly host: CacheHost,
  ) {}

  get size(): number {
    return this.entries.size;
  }
  get dirtyCount(): number {
    return this.dirtyKeys.size;
  }

  /** The row with this key (read through to the database on a miss), or undefined. */
  get(pk: PkOf<T>): Promise<Readonly<RowOf<T>> | undefined> {
    if (this.host.owner !== null) return this.host.owner.run(this, pk, () => this.getHere(pk));
    // A hit without an async frame: it is the path game code takes most.
    const entry = this.entries.get(pk);
    if (entry !== undefined) {
      this.touch(pk, entry);
      return Promise.resolve((entry.row ?? undefined) as Readonly<RowOf<T>> | undefined);
    }
    return this.getHere(pk);
  }

  private async getHere(pk: PkOf<T>): Promise<Readonly<RowOf<T>> | undefined> {
    let entry = this.entries.get(pk);
    if (entry === undefined) {
      // Checked on a miss only: a key of the wrong type never matches a cached one.
      this.checkPk(pk);
      entry = await this.load(pk);
    }
    this.touch(pk, entry);
    return (entry.row ?? undefined) as Readonly<RowOf<T>> | undefined;
  }

  /** Several rows; the misses are fetched in one query. */
  async getMany(pks: readonly PkOf<T>[]): Promise<Map<PkOf<T>, Readonly<RowOf<T>>>> {
    for (const pk of pks) this.checkPk(pk);
    if (this.host.owner !== null) {
      // Each entity under its own lease (one query per miss: the leases decide who reads).
      const out = new Map<PkOf<T>, Readonly<RowOf<T>>>();
      for (const pk of new Set(pks)) {
        const row = await this.get(pk);
        if (row !== undefined) out.set(pk, row);
      }
      return out;
    }
    const missing = [...new Set(pks)].filter((pk) => !this.entries.has(pk) && !this.loading.has(pk));
    if (missing.length > 0) {
      const found = this.host.db.getRows(this.table, missing);
      for (const pk of missing) this.loading.set(pk, found.then((rows) => this.loaded(pk, rows.get(pk))).finally(() => this.loading.delete(pk)));
    }
    const out = new Map<PkOf<T>, Readonly<RowOf<T>>>();
    for (const pk of pks) {
      const entry = this.entries.get(pk) ?? (await this.loading.get(pk)) ?? (await this.load(pk));
      this.touch(pk, entry);
      if (entry.row !== null) out.set(pk, entry.row as RowOf<T>);
    }
    return out;
  }

  /**
   * Rows whose `column` equals `value` (Firefly's fk lists): the database's answer with this
   * cache's unwritten changes laid over it, so a row just created, changed or deleted here is
   * seen as it is now.
   */
  async byIndex<C extends keyof RowOf<T> & string>(column: C, value: RowOf<T>[C]): Promise<Readonly<RowOf<T>>[]> {
    const fromDb = await this.host.db.getByIndex(this.table, column, value);
    const result = new Map<unknown, Record<string, unknown>>();
    for (const row of fromDb) {
      const pk = row[this.table.primaryKey];
      const cached = this.entries.get(pk);
      if (cached === undefined) result.set(pk, row);
      else if (cached.row !== null && cached.row[column] === value) result.set(pk, cached.row);
    }
    for (const pk of this.dirtyKeys) {
      const row = this.entries.get(pk)?.row;
      if (row != null && row[column] === value) result.set(pk, row);
    }
    return [...result.values()] as RowOf<T>[];
  }

  /**
   * A fresh key for `create`, unique across every node that shares the database (integer keys;
   * reserved in blocks, so keys from one node rise but interleave with other nodes').
   */
  async nextId(): Promise<number> {
    this.ids ??= new IdAllocator(this.host.db, this.table, this.host.idBlockSize);
    return this.ids.take();
  }

  /** Create a row (its key given). Rejects with EntityExistsError if the key is taken. */
  async create(row: InsertOf<T>): Promise<Readonly<RowOf<T>>> {
    const problems = rowProblems(this.table, row);
    if (problems.length > 0) throw new RowValidationError(this.table.name, problems);
    const full = this.withDefaults(row);
    const pk = full[this.table.primaryKey] as PkOf<T>;
    if (this.host.owner !== null) return this.host.owner.run(this, pk, () => this.createHere(pk, full));
    return this.createHere(pk, full);
  }

  private async createHere(pk: PkOf<T>, full: Record<string, unknown>): Promise<Readonly<RowOf<T>>> {
    if ((await this.getHere(pk)) !== undefined) throw new EntityExistsError(`${this.table.name}: a row with key ${String(pk)} exists`);
    const seq = await this.pinned(pk, this.host.commit({ table: this.table.name, op: Op.Create, pk, data: full }));
    const entry = this.entries.get(pk) ?? this.blank();
    if (entry.row !== null) throw new EntityExistsError(`${this.table.name}: a row with key ${String(pk)} was created meanwhile`);
    entry.row = full;
    entry.created = true;
    entry.deleted = false;
    entry.dirty = null;
    this.changed(pk, entry, seq);
    return full as RowOf<T>;
  }

  /** Change some columns of a row. Only those columns are written back. Rejects with EntityNotFoundError. */
  async update(pk: PkOf<T>, patch: PatchOf<T>): Promise<Readonly<RowOf<T>>> {
    const problems = patchProblems(this.table, patch);
    if (problems.length > 0) throw new RowValidationError(this.table.name, problems);
    if (this.host.owner !== null) return this.host.owner.run(this, pk, () => this.updateHere(pk, patch));
    return this.updateHere(pk, patch);
  }

  /**
   * Read-modify-write as one step: `change` gets the current row and returns the patch (or
   * undefined for none). Changes of one row through `modify` never interleave, on this node or
   * (with ownership) across nodes, so none is lost — unlike `get` then `update`, between which
   * another change may land.
   */
  async modify(pk: PkOf<T>, change: (row: Readonly<RowOf<T>>) => PatchOf<T> | undefined): Promise<Readonly<RowOf<T>>> {
    const work = () => this.serialized(pk, () => this.modifyHere(pk, change));
    return this.host.owner !== null ? this.host.owner.run(this, pk, work) : work();
  }

  private async modifyHere(pk: PkOf<T>, change: (row: Readonly<RowOf<T>>) => PatchOf<T> | undefined): Promise<Readonly<RowOf<T>>> {
    const row = await this.getHere(pk);
    if (row === undefined) throw new EntityNotFoundError(`${this.table.name}: no row with key ${String(pk)}`);
    const patch = change(row);
    if (patch === undefined) return row;
    const problems = patchProblems(this.table, patch);
    if (problems.length > 0) throw new RowValidationError(this.table.name, problems);
    return this.updateHere(pk, patch);
  }

  /** Run `work` after every earlier `serialized` call on this key has finished. */
  private serialized<R>(pk: unknown, work: () => Promise<R>): Promise<R> {
    const before = this.queues.get(pk) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(pk, tail);
    void tail.then(() => {
      if (this.queues.get(pk) === tail) this.queues.delete(pk);
    });
    return run;
  }

  private async updateHere(pk: PkOf<T>, patch: PatchOf<T>): Promise<Readonly<RowOf<T>>> {
    if ((await this.getHere(pk)) === undefined) throw new EntityNotFoundError(`${this.table.name}: no row with key ${String(pk)}`);
    const columns = { ...(patch as Record<string, unknown>) };
    const seq = await this.pinned(pk, this.host.commit({ table: this.table.name, op: Op.Update, pk, data: columns }));
    const entry = this.entries.get(pk);
    // Deleted while the record was being made durable: the delete came later and wins.
    if (entry?.row == null) throw new EntityNotFoundError(`${this.table.name}: row ${String(pk)} was deleted meanwhile`);
    entry.row = { ...entry.row, ...columns };
    if (!entry.created) {
      entry.dirty ??= new Set();
      for (const name of Object.keys(columns)) entry.dirty.add(name);
    }
    this.changed(pk, entry, seq);
    return entry.row as RowOf<T>;
  }

  /** Delete a row. Resolves false if there was none. */
  async delete(pk: PkOf<T>): Promise<boolean> {
    if (this.host.owner !== null) return this.host.owner.run(this, pk, () => this.deleteHere(pk));
    return this.deleteHere(pk);
  }

  private async deleteHere(pk: PkOf<T>): Promise<boolean> {
    if ((await this.getHere(pk)) === undefined) return false;
    const seq = await this.pinned(pk, this.host.commit({ table: this.table.name, op: Op.Delete, pk, data: null }));
    const entry = this.entries.get(pk);
    if (entry?.row == null) return false;
    entry.row = null;
    // A row created and deleted before it was written needs no SQL at all, but a delete is harmless and simpler.
    entry.created = false;
    entry.deleted = true;
    entry.dirty = null;
    this.changed(pk, entry, seq);
    return true;
  }

  // ---- for the EntityCache ----

  /** The changes a flush writes, one per dirty entry. */
  takeFlush(): FlushItem<T>[] {
    const items: FlushItem<T>[] = [];
    for (const pk of this.dirtyKeys) {
      const entry = this.entries.get(pk)!;
      entry.flushing = true;
      entry.seqSinceFlush = 0;
      items.push({ change: this.changeOf(pk, entry), pk: pk as PkOf<T>, version: entry.version });
    }
    return items;
  }

  /** A flush ended: entries written and unchanged since become clean; refused ones are dropped (the database's row is the truth). */
  flushed(items: readonly FlushItem<T>[], refused: ReadonlySet<FlushItem<T>>, ok: boolean): void {
    for (const item of items) {
      const entry = this.entries.get(item.pk);
      if (entry === undefined) continue;
      entry.flushing = false;
      if (!ok) continue;
      if (entry.version !== item.version) {
        // Changed during the flush: what came after is still owed (a refused change is tried
        // again with it, and dropped if refused again with nothing newer).
        if (!refused.has(item)) entry.firstSeq = entry.seqSinceFlush;
      } else if (refused.has(item)) {
        this.entries.delete(item.pk);
        this.dirtyKeys.delete(item.pk);
      } else {
        this.markClean(item.pk, entry);
      }
    }
  }

  /** Drop a key's entry if it owes the database nothing (an entity handed over to another node); false if it does. */
  forget(pk: unknown): boolean {
    const entry = this.entries.get(pk);
    if (entry === undefined) return true;
    if (this.dirtyKeys.has(pk) || entry.flushing) return false;
    this.entries.delete(pk);
    return true;
  }

  /** The oldest journal seq this table still owes the database (Infinity when none). */
  oldestUnwritten(): number {
    let oldest = Infinity;
    for (const pk of this.dirtyKeys) {
      const seq = this.entries.get(pk)!.firstSeq;
      if (seq > 0 && seq < oldest) oldest = seq;
    }
    return oldest;
  }

  /**
   * Drop clean entries until at most `keep` remain, oldest first, with a second chance (CLOCK)
   * for those used since the sweep last passed: they go to the end instead. Never an entry that
   * is pinned (being loaded for someone, or a change is waiting on it). Returns how many
   * went, and how many unwritten ones were passed over (they can go once written back).
   */
  evict(keep: number): { dropped: number; blocked: number } {
    let dropped = 0;
    let blocked = 0;
    // Each entry is passed at most twice (once with its second chance).
    let budget = 2 * this.entries.size;
    for (const [pk, entry] of this.entries) {
      if (this.entries.size <= keep || budget-- <= 0) break;
      if (this.dirtyKeys.has(pk) || entry.flushing) {
        blocked++;
        continue;
      }
      if (entry.pins > 0) continue;
      if (entry.recent) {
        entry.recent = false;
        this.entries.delete(pk);
        this.entries.set(pk, entry);
        continue;
      }
      this.entries.delete(pk);
      dropped++;
    }
    return { dropped, blocked };
  }

  // ---- inside ----

  /** Keep the key's entry from eviction while `work` (its change's journal record) is pending. */
  private async pinned<R>(pk: unknown, work: Promise<R>): Promise<R> {
    const entry = this.entries.get(pk);
    if (entry !== undefined) entry.pins++;
    try {
      return await work;
    } finally {
      if (entry !== undefined) entry.pins--;
    }
  }

  private changeOf(pk: unknown, entry: Entry): ChangeOf<T> & { table: string } {
    const table = this.table.name;
    if (entry.deleted) return { table, kind: "delete", pk: pk as PkOf<T> };
    // The row object itself: changes replace it (update spreads a new one), never mutate it.
    if (entry.created) return { table, kind: "upsert", row: entry.row as InsertOf<T> };
    const columns: Record<string, unknown> = {};
    for (const name of entry.dirty ?? []) columns[name] = entry.row![name];
    return { table, kind: "update", pk: pk as PkOf<T>, columns: columns as PatchOf<T> };
  }

  private changed(pk: unknown, entry: Entry, seq: number): void {
    entry.version++;
    if (entry.firstSeq === 0) entry.firstSeq = seq;
    if (entry.flushing && entry.seqSinceFlush === 0) entry.seqSinceFlush = seq;
    this.entries.set(pk, entry);
    this.dirtyKeys.add(pk);
    this.touch(pk, entry);
  }

  private markClean(pk: unknown, entry: Entry): void {
    entry.created = false;
    entry.deleted = false;
    entry.dirty = null;
    entry.firstSeq = 0;
    this.dirtyKeys.delete(pk);
    // A deleted row stays cached as "known absent" until evicted: the next get needs no query.
  }

  private async load(pk: PkOf<T>): Promise<Entry> {
    let pending = this.loading.get(pk);
    if (pending === undefined) {
      pending = this.host.db.getRows(this.table, [pk]).then((rows) => this.loaded(pk, rows.get(pk)));
      this.loading.set(pk, pending);
      void pending.finally(() => this.loading.delete(pk)).catch(() => undefined);
    }
    return pending;
  }

  /** A row read from the database joins the cache — unless a change made meanwhile got there first. */
  private loaded(pk: unknown, row: RowOf<T> | undefined): Entry {
    const existing = this.entries.get(pk);
    if (existing !== undefined) return existing;
    const entry = this.blank();
    entry.row = (row as Record<string, unknown> | undefined) ?? null;
    this.entries.set(pk, entry);
    // The eviction this may start must not take the entry it is loading for someone.
    entry.pins++;
    this.host.touched();
    entry.pins--;
    return entry;
  }

  /** Mark an entry used: one store, where moving it to the Map's end cost two Map operations per read. */
  private touch(_pk: unknown, entry: Entry): void {
    entry.recent = true;
  }

  private blank(): Entry {
    return { row: null, created: false, deleted: false, dirty: null, version: 0, firstSeq: 0, seqSinceFlush: 0, flushing: false, recent: true, pins: 0 };
  }

  private checkPk(pk: unknown): void {
    const problems = pkProblems(this.table, pk);
    if (problems.length > 0) throw new RowValidationError(this.table.name, problems);
  }

  private withDefaults(row: Record<string, unknown>): Record<string, unknown> {
    const full: Record<string, unknown> = {};
    for (const name of this.table.columnNames) {
      const column = this.table.columns[name] as AnyColumn;
      full[name] = name in row && row[name] !== undefined ? row[name] : column.hasDefault ? column.defaultValue : null;
    }
    return full;
  }
}
