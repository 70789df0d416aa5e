/**
 * The cache's side of entity ownership: every read or change of an entity runs while this node
 * holds its lease, and a hand-over asked for by another node waits for the operations on that
 * entity to finish, writes the cache back, drops the entity and only then releases the lease.
 */
import type { Logger } from "../../log/logger.ts";
import type { Ownership } from "./ownership.ts";

/** What the gate needs of a table's cache to hand an entity over. */
export interface Forgettable {
  readonly table: { readonly name: string };
  /** Drop the cached entry of `pk` if it owes the database nothing; false if it does. */
  forget(pk: unknown): boolean;
}

export class OwnerGate {
  /** Operations running per entity key. */
  private readonly busy = new Map<string, number>();
  private readonly idleWaiters = new Map<string, (() => void)[]>();
  private readonly handovers = new Map<string, Promise<void>>();
  /** Where each held key's entry lives, to drop it at hand-over. */
  private readonly held = new Map<string, { cache: Forgettable; pk: unknown }>();

  constructor(
    private readonly ownership: Ownership,
    private readonly flush: () => Promise<void>,
    private readonly log: Logger | undefined,
  ) {}

  /**
   * Start answering hand-over requests. The cache calls it once its journal is replayed: until
   * then the database may lack changes this node acknowledged before a crash, and a lease given
   * up would let another node read those rows stale.
   */
  listen(): void {
    this.ownership.onRequest((key) => this.handOver(key));
  }

  /** Run `work` on an entity while this node owns it. */
  async run<R>(cache: Forgettable, pk: unknown, work: () => Promise<R>): Promise<R> {
    const key = `${cache.table.name}/${String(pk)}`;
    for (;;) {
      const handing = this.handovers.get(key);
      if (handing !== undefined) {
        await handing;
        continue;
      }
      if (this.ownership.owns(key)) break;
      await this.ownership.acquire(key);
      // A hand-over that began while the lease was being taken: wait for it and take it again.
      if (!this.handovers.has(key)) break;
    }
    this.held.set(key, { cache, pk });
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = this.busy.get(key)! - 1;
      if (left > 0) this.busy.set(key, left);
      else {
        this.busy.delete(key);
        for (const wake of this.idleWaiters.get(key) ?? []) wake();
        this.idleWaiters.delete(key);
      }
    }
  }

  private handOver(key: string): void {
    if (!this.ownership.owns(key) || this.handovers.has(key)) return;
    const done = this.release(key)
      .catch((err: unknown) => this.log?.warn("hand-over failed; the entity stays here", { key, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => this.handovers.delete(key));
    this.handovers.set(key, done);
  }

  private async release(key: string): Promise<void> {
    if (this.busy.has(key)) {
      await new Promise<void>((resolve) => {
        const waiters = this.idleWaiters.get(key) ?? [];
        waiters.push(resolve);
        this.idleWaiters.set(key, waiters);
      });
    }
    // The next owner reads the database: it must hold every change made here.
    await this.flush();
    const held = this.held.get(key);
    if (held !== undefined && !held.cache.forget(held.pk)) throw new Error(`${key} still owes the database a change after a flush`);
    this.held.delete(key);
    await this.ownership.release(key);
  }
}
