/**
 * `node.data`: a node's database, entity cache and journal, opened from its config (`db`, `data`)
 * after its app modules have declared their tables and before it takes clients, so a journal
 * left by a crash is replayed into the database before anything is served (docs/data.md).
 */
import { resolve } from "node:path";
import type { DataSettingsInput } from "../config/data.ts";
import { EntityCache, Journal, openDatabase, parseDbConfig, RedisOwnership, syncSchema, type AnyTable, type Database, type Ownership } from "../data/index.ts";
import type { RootClient } from "../rpc/index.ts";
import { MasterOwnership } from "./master-ownership.ts";
import type { Logger } from "../log/logger.ts";

const DEFAULT_OWNERSHIP_WAIT_MS = 5000;

interface Opened {
  db: Database;
  cache: EntityCache;
  journal: Journal | null;
}

export class NodeData {
  private readonly declared: AnyTable[] = [];
  private opened: Opened | null = null;
  /**
   * Made with the node, so the master's hand-over requests find their service from the moment
   * the registry link opens (they are answered once the journal is replayed).
   */
  private readonly masterOwnership: MasterOwnership | null;

  constructor(
    private readonly node: string,
    private readonly dbInput: unknown,
    private readonly settings: DataSettingsInput,
    private readonly log: Logger,
    /** The registry link of a node in a cluster (for ownership through the master). */
    master?: RootClient,
  ) {
    const wanted = dbInput !== undefined && settings.ownership === "master" && master !== undefined;
    this.masterOwnership = wanted ? new MasterOwnership(master, node, DEFAULT_OWNERSHIP_WAIT_MS, log) : null;
  }

  /** Whether the node's config has a database. */
  get configured(): boolean {
    return this.dbInput !== undefined;
  }

  /** Declare the tables this node's cache serves (from app modules, before the node starts). */
  tables(...tables: AnyTable[]): void {
    if (this.opened !== null) throw new Error(`node ${this.node}: tables must be declared before the node starts`);
    for (const table of tables) if (!this.declared.includes(table)) this.declared.push(table);
  }

  /** The entity cache (after start). */
  get cache(): EntityCache {
    return this.current().cache;
  }

  /** The database, for queries the cache does not cover (after start). */
  get db(): Database {
    return this.current().db;
  }

  /** Open the database, create missing tables and columns, replay the journal. */
  async open(): Promise<void> {
    if (this.dbInput === undefined) {
      if (this.declared.length > 0) throw new Error(`node ${this.node} declares tables and its config has no db`);
      return;
    }
    const s = this.settings;
    const db = await openDatabase(parseDbConfig(this.dbInput));
    try {
      const report = await syncSchema(db, this.declared);
      const journalDir = s.journal === false ? null : resolve(s.journal ?? `data/journal/${this.node}`);
      const journal = journalDir === null ? null : await Journal.open(journalDir, { fsync: s.fsync ?? "always" });
      const ownership = await this.openOwnership().catch(async (err: unknown) => {
        await journal?.close();
        throw err;
      });
      try {
        const cache = await EntityCache.open({
          db,
          tables: this.declared,
          logger: this.log,
          ...(journal === null ? {} : { journal }),
          ...(ownership === undefined ? {} : { ownership }),
          ...pick(s, ["flushIntervalMs", "maxEntities", "maxDirty", "maxWaitMs", "idBlockSize"]),
        });
        this.opened = { db, cache, journal };
        this.log.info("data ready", { dialect: db.dialect, tables: this.declared.length, journal: journalDir ?? "none", ownership: ownership?.id ?? "none", schema: JSON.stringify(report) });
      } catch (err) {
        await ownership?.close();
        await journal?.close();
        throw err;
      }
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  private async openOwnership(): Promise<Ownership | undefined> {
    const own = this.settings.ownership;
    if (own === undefined) return undefined;
    if (own !== "master") return RedisOwnership.open({ url: own.redis, node: this.node, ...pick(own, ["ttlMs", "waitMs", "prefix"]) });
    if (this.masterOwnership === null) throw new Error(`node ${this.node}: data.ownership is "master" and the node has no link to a master (run it in a cluster)`);
    return this.masterOwnership;
  }

  /** Write back what is left, then close the journal and the database. */
  async close(): Promise<void> {
    const opened = this.opened;
    if (opened === null) return;
    this.opened = null;
    await opened.cache.close();
    await opened.journal?.close();
    await opened.db.close();
  }

  private current(): Opened {
    if (this.opened === null) throw new Error(`node ${this.node} has no data: ${this.dbInput === undefined ? "its config has no db" : "it has not started"}`);
    return this.opened;
  }
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
