/**
 * Entity ownership without Redis: the master keeps the leases (docs/data.md, "Several nodes").
 * Nodes ask over their registry link; the master asks a holder to hand over. A node whose link
 * drops keeps its leases until it comes back (by default): its journal may hold acknowledged
 * changes of those entities that only its own replay writes to the database, so no other node
 * may take them from the database first. A master that restarts grants nothing new for a grace
 * period while the nodes claim back what they hold. A released lease is kept a moment for the
 * node that has waited longest, so a busy holder cannot starve the others.
 */
import { service, type RootServer } from "../rpc/index.ts";

/** Node → master: take `key`. `granted: false` means ask again (the holder was asked to hand over). */
export const AcquireLease = service<[key: string], { granted: boolean; holder: string | null }>("glowfly.lease.acquire");
/** Node → master: give `key` up. */
export const ReleaseLease = service<[key: string], boolean>("glowfly.lease.release");
/** Node → master, after (re)linking: the keys it holds; answers those it may no longer keep. */
export const ClaimLeases = service<[keys: string[]], string[]>("glowfly.lease.claim");
/** Master → holder: another node wants `key`. */
export const HandOverLease = service<[key: string], void>("glowfly.lease.handOver");

export interface LeaseTableOptions {
  /** How long a node whose link dropped keeps its leases (default: until it comes back). */
  ttlMs?: number;
  /** After the master starts, how long only claims are granted (default 3 s). */
  claimGraceMs?: number;
  /** Bound of the table (default 1,000,000 leases; past it acquire is refused). */
  maxLeases?: number;
}

/** Longest lease key or uid a node may send the master (UTF-16 units). */
export const MAX_TABLE_KEY = 512;
/**
 * A released lease is kept this long for the node that has waited longest, so the previous
 * holder's next operations, which ask at once, cannot take it back again and again (starving
 * the asker until its wait runs out).
 */
const RESERVE_MS = 1000;
/** An asker that has not asked again for this long has given up waiting. */
const WAITER_STALE_MS = 1000;

interface Waiter {
  since: number;
  last: number;
}

export class LeaseTable {
  private readonly holders = new Map<string, string>();
  private readonly byNode = new Map<string, Set<string>>();
  private readonly expiries = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per held key, the other nodes asking for it (at most one entry per node). */
  private readonly waiters = new Map<string, Map<string, Waiter>>();
  /** Released keys kept for the longest waiter. */
  private readonly reserved = new Map<string, { node: string; until: number }>();
  private readonly startedAt = Date.now();
  private readonly ttlMs: number;
  private readonly claimGraceMs: number;
  private readonly maxLeases: number;

  constructor(
    private readonly server: RootServer,
    options: LeaseTableOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? Number.POSITIVE_INFINITY;
    this.claimGraceMs = options.claimGraceMs ?? 3_000;
    this.maxLeases = options.maxLeases ?? 1_000_000;
    server.services.handle(AcquireLease, ([key], ctx) => this.acquire(checkKey(key), ctx.peer));
    server.services.handle(ReleaseLease, ([key], ctx) => this.release(checkKey(key), ctx.peer));
    server.services.handle(ClaimLeases, ([keys], ctx) => (Array.isArray(keys) ? keys.map(checkKey).filter((k) => !this.claim(k, ctx.peer)) : []));
    server.onChildLost((node) => this.linkLost(node));
    server.onChildConnected((node) => {
      const timer = this.expiries.get(node);
      if (timer !== undefined) clearTimeout(timer);
      this.expiries.delete(node);
    });
  }

  get size(): number {
    return this.holders.size;
  }

  holder(key: string): string | undefined {
    return this.holders.get(key);
  }

  close(): void {
    for (const timer of this.expiries.values()) clearTimeout(timer);
    this.expiries.clear();
  }

  private acquire(key: string, node: string): { granted: boolean; holder: string | null } {
    const holder = this.holders.get(key);
    if (holder === node) return { granted: true, holder: node };
    const now = Date.now();
    if (holder !== undefined) {
      this.server.notifyChild(holder, HandOverLease, key);
      this.wait(key, node, now);
      return { granted: false, holder };
    }
    const reservation = this.reserved.get(key);
    if (reservation !== undefined && reservation.until <= now) this.reserved.delete(key);
    else if (reservation !== undefined && reservation.node !== node) {
      this.wait(key, node, now);
      return { granted: false, holder: reservation.node };
    }
    // Just restarted: the nodes' claims come first, so no key gets a second owner.
    if (now - this.startedAt < this.claimGraceMs || this.holders.size >= this.maxLeases) return { granted: false, holder: null };
    this.set(key, node);
    return { granted: true, holder: node };
  }

  private wait(key: string, node: string, now: number): void {
    let waiting = this.waiters.get(key);
    if (waiting === undefined) {
      waiting = new Map();
      this.waiters.set(key, waiting);
    }
    const waiter = waiting.get(node);
    if (waiter === undefined) waiting.set(node, { since: now, last: now });
    else waiter.last = now;
  }

  /** After a release: keep the key for the node that has asked longest and still asks. */
  private reserveForWaiter(key: string): void {
    const waiting = this.waiters.get(key);
    if (waiting === undefined) return;
    const now = Date.now();
    let next: string | null = null;
    let since = Infinity;
    for (const [node, waiter] of waiting) {
      if (now - waiter.last > WAITER_STALE_MS) waiting.delete(node);
      else if (waiter.since < since) {
        next = node;
        since = waiter.since;
      }
    }
    if (waiting.size === 0) this.waiters.delete(key);
    if (next === null) return;
    // Reservations nobody came for go when they pile up (each lives RESERVE_MS).
    if (this.reserved.size >= 1024) for (const [k, r] of this.reserved) if (r.until <= now) this.reserved.delete(k);
    this.reserved.set(key, { node: next, until: now + RESERVE_MS });
  }

  private claim(key: string, node: string): boolean {
    const holder = this.holders.get(key);
    if (holder !== undefined && holder !== node) return false;
    this.set(key, node);
    return true;
  }

  private release(key: string, node: string): boolean {
    if (this.holders.get(key) !== node) return false;
    this.holders.delete(key);
    this.byNode.get(node)?.delete(key);
    this.reserveForWaiter(key);
    return true;
  }

  private set(key: string, node: string): void {
    this.reserved.delete(key);
    const waiting = this.waiters.get(key);
    waiting?.delete(node);
    if (waiting?.size === 0) this.waiters.delete(key);
    this.holders.set(key, node);
    let keys = this.byNode.get(node);
    if (keys === undefined) {
      keys = new Set();
      this.byNode.set(node, keys);
    }
    keys.add(key);
  }

  private linkLost(node: string): void {
    if (!this.byNode.has(node) || this.expiries.has(node) || this.ttlMs === Number.POSITIVE_INFINITY) return;
    const timer = setTimeout(() => {
      this.expiries.delete(node);
      for (const key of this.byNode.get(node) ?? []) {
        if (this.holders.get(key) !== node) continue;
        this.holders.delete(key);
        this.reserveForWaiter(key);
      }
      this.byNode.delete(node);
    }, this.ttlMs);
    timer.unref();
    this.expiries.set(node, timer);
  }
}

/** A key of one of the master's tables, from a node: a string of 1..MAX_TABLE_KEY units, else the call fails. */
export function checkTableKey(value: unknown, what = "a lease key"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_TABLE_KEY) throw new Error(`${what} must be a string of 1-${MAX_TABLE_KEY} characters`);
  return value;
}

const checkKey = (key: unknown): string => checkTableKey(key);
