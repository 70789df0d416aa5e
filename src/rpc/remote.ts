/**
 * The `remote` role (Firefly's remoteport): a node's link to a parent's root. It calls the
 * root, serves the root's calls to it, and — unlike Firefly and G-Firefly, where only the
 * master's re-announcement brought a link back — reconnects by itself with exponential backoff
 * and jitter, so a restarted root is re-joined without anyone telling it to. `connect(host,
 * port)` (Firefly's remote_connect) points it somewhere else at any time.
 */
import { randomUUID } from "node:crypto";
import { connect as netConnect } from "node:net";
import { KickCode } from "../protocol/index.ts";
import { consoleLogger, type Logger } from "../log/logger.ts";
import { TimedCaller, type Caller, type CallTarget } from "./caller.ts";
import { newCounters, type RpcCounters } from "./counters.ts";
import { errorText, RpcError, RpcErrorCode } from "./errors.ts";
import { Link, type LinkCloseInfo } from "./link.ts";
import { backoffDelay, resolveLinkOptions, resolveReconnect, type LinkOptions, type ReconnectOptions, type ResolvedLinkOptions, type ResolvedReconnect } from "./options.ts";
import { ServiceRegistry, type ServiceDef } from "./service.ts";
import { isValidName, MAX_NODE_NAME } from "./names.ts";

export interface RootClientOptions extends LinkOptions {
  /** This node's name: the root addresses it by this. */
  name: string;
  /** Cluster id; the root must announce the same one (or, like this node, none). */
  cluster?: string;
  /** Handlers for the root's calls (default: a new registry, `remote.services`). */
  services?: ServiceRegistry;
  logger?: Logger;
  /** Reconnect after a drop or a failed attempt; `false` turns it off (default on). */
  reconnect?: ReconnectOptions | false;
}

/**
 * idle: no target, or given up (reconnect off, or replaced at the root by another node of
 * the same name); connecting: first attempt after connect(); open; reconnecting: after a drop
 * or a failed attempt, waiting for the next one; closed: close() was called.
 */
export type RootClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface RootClientStats extends RpcCounters {
  state: RootClientState;
  connected: boolean;
  /** The root's node name while linked. */
  root: string | null;
  /** "host:port" it points at. */
  target: string | null;
  /** Calls to the root waiting for replies. */
  pending: number;
  /** Handlers running for the root. */
  inFlight: number;
  /** Times a link to the root opened (1 + reconnects). */
  opens: number;
}

interface Waiter {
  resolve(): void;
  reject(err: RpcError): void;
  timer: ReturnType<typeof setTimeout>;
}

export class RootClient implements Caller, CallTarget {
  readonly name: string;
  readonly services: ServiceRegistry;
  readonly log: Logger;
  private readonly options: ResolvedLinkOptions;
  private readonly reconnect: ResolvedReconnect | null;
  private readonly counters = newCounters();
  private stateValue: RootClientState = "idle";
  private targetValue: { host: string; port: number } | null = null;
  /** Bumped whenever the target changes or the client closes; older links' events are ignored. */
  private generation = 0;
  private link: Link | null = null;
  private attemptLink: Link | null = null;
  /** Failed attempts since the last open link. */
  private failures = 0;
  private opens = 0;
  private lastFailure = "";
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly waiters = new Set<Waiter>();
  private readonly stateListeners = new Set<(state: RootClientState) => void>();

  constructor(private readonly config: RootClientOptions) {
    if (!isValidName(config.name, MAX_NODE_NAME)) throw new RangeError("RootClient needs a node name of 1 to 128 printable characters");
    if (config.cluster !== undefined && !isValidName(config.cluster, MAX_NODE_NAME)) throw new RangeError("a cluster id must be 1 to 128 printable characters");
    this.name = config.name;
    this.options = resolveLinkOptions(config);
    this.reconnect = resolveReconnect(config.reconnect);
    this.services = config.services ?? new ServiceRegistry();
    this.log = (config.logger ?? consoleLogger()).child({ remote: this.name });
  }

  /** Sent in every hello of this client's links: the same across reconnects, new per RootClient. */
  readonly instance = randomUUID();

  get state(): RootClientState {
    return this.stateValue;
  }
  get isOpen(): boolean {
    return this.stateValue === "open";
  }
  /** The root's node name while linked, else null. */
  get root(): string | null {
    return this.link?.peer ?? null;
  }
  /** The open link (null while not linked). */
  get currentLink(): Link | null {
    return this.link;
  }
  get target(): { host: string; port: number } | null {
    return this.targetValue;
  }

  /**
   * Point at the root at host:port and link to it. A different target drops the current link
   * (its pending calls reject with LinkClosed); the same target just waits. Resolves when the
   * link is open; rejects with NotConnected if it is not open within `waitMs` (default: the
   * call timeout) — with reconnect on, the client keeps trying after that.
   */
  connect(host: string, port: number, options: { waitMs?: number } = {}): Promise<void> {
    if (this.stateValue === "closed") return Promise.reject(new RpcError(RpcErrorCode.NotConnected, `remote ${this.name} is closed`));
    if (typeof host !== "string" || host.length === 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      return Promise.reject(new RangeError(`connect needs a host and a port from 1 to 65535, got ${String(host)}:${port}`));
    }
    const target = this.targetValue;
    if (target === null || target.host !== host || target.port !== port) {
      if (target !== null) this.log.info("re-pointed to another root", { from: `${target.host}:${target.port}`, to: `${host}:${port}` });
      this.targetValue = { host, port };
      this.generation++;
      this.dropCurrent(`re-pointed to ${host}:${port}`);
      this.failures = 0;
      this.setState("connecting");
      this.attempt();
    } else if (this.stateValue === "idle") {
      this.failures = 0;
      this.setState("connecting");
      this.attempt();
    }
    if (this.stateValue === "open") return Promise.resolve();
    return this.waitOpen(options.waitMs ?? this.options.timeoutMs);
  }

  // ---- calling the root ----

  call<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R> {
    return this.callTimed(def, args, undefined) as Promise<R>;
  }

  notify<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean {
    return this.link?.notify(def, ...args) ?? false;
  }

  withTimeout(timeoutMs: number): Caller {
    return new TimedCaller(this, timeoutMs);
  }

  callTimed(def: ServiceDef<unknown[], unknown>, args: unknown[], timeoutMs: number | undefined): Promise<unknown> {
    const link = this.link;
    if (link === null || !link.isOpen) {
      // Fail fast instead of queueing: the caller decides whether to wait and retry.
      this.counters.calls++;
      this.counters.errors++;
      const why = this.lastFailure ? `: ${this.lastFailure}` : "";
      return Promise.reject(new RpcError(RpcErrorCode.NotConnected, `${def.name}: remote ${this.name} is not linked to a root (${this.stateValue}${why})`));
    }
    return link.callTimed(def, args, timeoutMs);
  }

  /** Listen for state changes. Returns an unsubscribe function. */
  onStateChange(listener: (state: RootClientState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  get stats(): RootClientStats {
    const target = this.targetValue;
    return {
      ...this.counters,
      state: this.stateValue,
      connected: this.stateValue === "open",
      root: this.root,
      target: target ? `${target.host}:${target.port}` : null,
      pending: this.link?.pendingCalls ?? 0,
      inFlight: this.link?.inFlight ?? 0,
      opens: this.opens,
    };
  }

  /** Close for good: no more reconnects. With `deadlineMs`, handlers running for the root may finish first. */
  async close(options: { deadlineMs?: number } = {}): Promise<void> {
    if (this.stateValue === "closed") return;
    this.generation++;
    this.setState("closed");
    const link = this.link ?? this.attemptLink;
    this.link = this.attemptLink = null;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (link) await link.close({ ...options, reason: `node ${this.name} is closing its link` });
  }

  // ---- the link lifecycle ----

  private attempt(): void {
    const target = this.targetValue;
    if (target === null) return;
    const generation = this.generation;
    const address = `${target.host}:${target.port}`;
    const socket = netConnect({ host: target.host, port: target.port });
    this.attemptLink = new Link({
      socket,
      role: "connect",
      node: this.name,
      cluster: this.config.cluster,
      instance: this.instance,
      options: this.options,
      services: this.services,
      counters: this.counters,
      log: this.log,
      address,
      events: {
        opened: (link) => this.opened(link, generation),
        closed: (link, info) => this.closed(link, info, generation),
      },
    });
  }

  private opened(link: Link, generation: number): void {
    if (generation !== this.generation) {
      void link.close({ reason: "superseded" });
      return;
    }
    this.attemptLink = null;
    this.link = link;
    this.opens++;
    this.log.info(this.failures > 0 || this.opens > 1 ? "re-linked to root" : "linked to root", { root: link.peer, address: link.remoteAddress, failedAttempts: this.failures });
    this.failures = 0;
    this.lastFailure = "";
    this.setState("open");
  }

  private closed(link: Link, info: LinkCloseInfo, generation: number): void {
    if (generation !== this.generation) return;
    const wasOpen = this.link === link;
    if (wasOpen) this.link = null;
    if (this.attemptLink === link) this.attemptLink = null;
    this.lastFailure = info.reason;
    if (wasOpen) this.log.warn("link to root lost", { root: link.peer, reason: info.reason });
    else if (info.byPeer && info.code !== 0) this.log.warn("root refused the link", { address: link.remoteAddress, reason: info.reason });
    else this.log[this.failures === 0 ? "info" : "debug"]("link attempt failed", { address: link.remoteAddress, attempt: this.failures + 1, reason: info.reason });
    if (info.byPeer && info.code === KickCode.Kicked) {
      // The root replaced this link with another node's under the same name: coming back
      // would only push that one out again. Stay down until told to connect().
      this.log.error("another node linked to the root under this name; not reconnecting", { root: link.peer });
      this.goIdle(info.reason);
      return;
    }
    if (this.reconnect === null) {
      this.goIdle(info.reason);
      return;
    }
    this.failures++;
    const delay = backoffDelay(this.reconnect, this.failures);
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (generation === this.generation && this.stateValue === "reconnecting") this.attempt();
    }, delay);
  }

  private dropCurrent(reason: string): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const link = this.link ?? this.attemptLink;
    this.link = this.attemptLink = null;
    if (link) void link.close({ reason });
  }

  private goIdle(reason: string): void {
    this.setState("idle");
    this.rejectWaiters(`remote ${this.name} gave up linking: ${reason}`);
  }

  private waitOpen(waitMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const target = this.targetValue;
          const why = this.lastFailure ? ` (last failure: ${this.lastFailure})` : "";
          reject(new RpcError(RpcErrorCode.NotConnected, `no link to the root at ${target?.host}:${target?.port} within ${waitMs} ms${why}`));
        }, waitMs),
      };
      this.waiters.add(waiter);
    });
  }

  private rejectWaiters(message: string): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new RpcError(RpcErrorCode.NotConnected, message));
    }
    this.waiters.clear();
  }

  private setState(state: RootClientState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    if (state === "open") {
      for (const waiter of this.waiters) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
      this.waiters.clear();
    } else if (state === "closed") {
      this.rejectWaiters(`remote ${this.name} is closed`);
    }
    for (const listener of this.stateListeners) {
      try {
        listener(state);
      } catch (err) {
        this.log.error("state listener threw", { error: errorText(err) });
      }
    }
  }
}
