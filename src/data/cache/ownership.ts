/**
 * One owner per entity across the nodes that share a database (docs/data.md, "Several nodes").
 * A node may read or change an entity only while it holds the entity's lease; another node that
 * needs it asks the owner to hand it over, and the owner first writes the entity back and drops
 * it from its cache. So every node works on the database's latest row, and no node's change is
 * overwritten by another's stale copy.
 *
 * The default implementation keeps leases in Redis (`RedisOwnership`); a lease has a time to
 * live, renewed while its node runs, so a node that dies frees its entities after `ttlMs`.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { HeldLeases } from "./held-leases.ts";

export interface Ownership {
  /** This process's id in lease values (a node name and a random part). */
  readonly id: string;
  /** Whether this node holds the lease of `key` now (no I/O). */
  owns(key: string): boolean;
  /** Resolve once this node holds `key`, asking its owner to hand it over; rejects with OwnershipTimeoutError. */
  acquire(key: string): Promise<void>;
  /** Give the lease of `key` up (after the entity is written back and dropped). */
  release(key: string): Promise<void>;
  /**
   * Another node asks for `key`: the handler hands it over (write back, drop, release). The
   * cache registers it once its journal is replayed; before that no lease may be given up.
   */
  onRequest(handler: (key: string) => void): void;
  /** Release every lease and disconnect. */
  close(): Promise<void>;
}

/** A lease could not be had in time: its owner did not hand the entity over (busy, or its database is down). */
export class OwnershipTimeoutError extends Error {
  override readonly name = "OwnershipTimeoutError";
}

export interface RedisOwnershipOptions {
  /** Redis URL (default redis://127.0.0.1:6379). */
  url?: string;
  /** The node's name, for lease values and logs. */
  node: string;
  /** Lease time to live, renewed at a third of it while the node runs (default 15 s). */
  ttlMs?: number;
  /** How long `acquire` may wait for an owner to hand over (default 5 s). */
  waitMs?: number;
  /** Key prefix (default "glowfly"). */
  prefix?: string;
  /** Connect and command timeout (default 5 s). */
  timeoutMs?: number;
}

/** Delete or extend a lease only if it is still ours (a lease that expired may be someone else's now). */
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;
const RENEW = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`;
/**
 * Replace a lease's value if it is still the expected one: a hand-over leaves our lease reserved
 * for the node that asked (see RESERVE_MS), and that node turns the reservation into its lease.
 */
const SWAP = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("set", KEYS[1], ARGV[2], "PX", ARGV[3]) else return 0 end`;
/** How often an acquirer repeats its hand-over request while it waits. */
const ASK_AGAIN_MS = 250;
/**
 * A handed-over lease stays reserved this long for the node that asked, so the previous owner's
 * next operations, which ask at once, cannot take it back again and again and starve the asker.
 */
const RESERVE_MS = 1000;
const RESERVED = "reserved:";

export class RedisOwnership implements Ownership {
  readonly id: string;
  private readonly owned = new HeldLeases();
  private handler: ((key: string) => void) | null = null;
  /** Per key held here, the first node that asked for it: the lease is reserved for it on release. */
  private readonly askers = new Map<string, string>();
  private renewTimer: ReturnType<typeof setInterval> | null = null;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly prefix: string;

  private constructor(
    private readonly cmd: Redis,
    private readonly sub: Redis,
    options: RedisOwnershipOptions,
  ) {
    this.id = `${options.node}:${randomUUID().slice(0, 8)}`;
    this.ttlMs = options.ttlMs ?? 15_000;
    this.waitMs = options.waitMs ?? 5_000;
    this.prefix = options.prefix ?? "glowfly";
  }

  static async open(options: RedisOwnershipOptions): Promise<RedisOwnership> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const settings = { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 2 };
    const cmd = new Redis(options.url ?? "redis://127.0.0.1:6379", settings);
    const sub = cmd.duplicate();
    // Errors surface through the commands that fail; an unhandled 'error' event would kill the process.
    for (const c of [cmd, sub]) c.on("error", () => undefined);
    try {
      await cmd.connect();
      await sub.connect();
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw new Error(`ownership: Redis at ${options.url ?? "redis://127.0.0.1:6379"} is not reachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const ownership = new RedisOwnership(cmd, sub, options);
    await sub.subscribe(ownership.channel(ownership.id));
    sub.on("message", (_channel: string, message: string) => ownership.asked(message));
    ownership.renewTimer = setInterval(() => ownership.renew(), Math.max(100, Math.floor(ownership.ttlMs / 3)));
    ownership.renewTimer.unref();
    return ownership;
  }

  owns(key: string): boolean {
    return this.owned.has(key);
  }

  onRequest(handler: (key: string) => void): void {
    this.handler = handler;
  }

  async acquire(key: string): Promise<void> {
    const lease = this.lease(key);
    const deadline = Date.now() + this.waitMs;
    let askedAt = 0;
    let owner: string | null;
    for (let attempt = 0; ; attempt++) {
      // A grant counts only if this node released nothing of `key` since asking (HeldLeases).
      if (await this.owned.ask(key, async () => (await this.cmd.set(lease, this.id, "PX", this.ttlMs, "NX")) === "OK")) return;
      const read: { value: string | null } = { value: null };
      if (await this.owned.ask(key, async () => (read.value = await this.cmd.get(lease)) === this.id)) return;
      owner = read.value;
      const reservation = `${RESERVED}${this.id}`;
      if (owner === reservation) {
        if (await this.owned.ask(key, async () => (await this.cmd.eval(SWAP, 1, lease, reservation, this.id, this.ttlMs)) === "OK")) return;
      } else if (owner?.startsWith(RESERVED) === true) {
        owner = owner.slice(RESERVED.length); // kept for another asker: it takes it, then we ask it
      } else if (owner !== null && Date.now() - askedAt >= ASK_AGAIN_MS) {
        askedAt = Date.now();
        await this.cmd.publish(this.channel(owner), JSON.stringify([key, this.id]));
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(50, 2 + attempt * 4)));
    }
    throw new OwnershipTimeoutError(`${key}: held by ${owner ?? "another node"}, not handed over within ${this.waitMs} ms`);
  }

  async release(key: string): Promise<void> {
    this.owned.drop(key);
    const next = this.askers.get(key);
    this.askers.delete(key);
    if (next === undefined) await this.cmd.eval(RELEASE, 1, this.lease(key), this.id);
    else await this.cmd.eval(SWAP, 1, this.lease(key), this.id, `${RESERVED}${next}`, RESERVE_MS);
  }

  /** A hand-over request, `[key, asker]` in JSON; anything else on the channel is ignored. */
  private asked(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== "string" || typeof parsed[1] !== "string") return;
    const [key, asker] = parsed as [string, string];
    if (!this.owned.has(key)) return;
    if (asker !== this.id && !this.askers.has(key)) this.askers.set(key, asker);
    this.handler?.(key);
  }

  async close(): Promise<void> {
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.renewTimer = null;
    const keys = this.owned.dropAll();
    try {
      const pipeline = this.cmd.pipeline();
      for (const key of keys) pipeline.eval(RELEASE, 1, this.lease(key), this.id);
      await pipeline.exec();
    } finally {
      this.sub.disconnect();
      this.cmd.disconnect();
    }
  }

  /** Extend every lease held; one that is no longer ours (expired while the process stalled) is forgotten. */
  private renew(): void {
    if (this.owned.size === 0) return;
    const keys = this.owned.keys();
    const pipeline = this.cmd.pipeline();
    for (const key of keys) pipeline.eval(RENEW, 1, this.lease(key), this.id, this.ttlMs);
    pipeline.exec().then(
      (results) => results?.forEach(([err, kept], i) => {
        if (err === null && kept === 0) {
          this.owned.drop(keys[i]!);
          this.askers.delete(keys[i]!);
        }
      }),
      () => undefined, // Redis unreachable: leases run out; acquire reports it when it is needed
    );
  }

  private lease(key: string): string {
    return `${this.prefix}:lease:${key}`;
  }

  private channel(owner: string): string {
    return `${this.prefix}:own:${owner}`;
  }
}
