/**
 * The `root` role (Firefly's rootport): listens for child nodes, which identify by name in the
 * handshake, and calls them by that name. Unlike Firefly, calling a child that is not connected
 * rejects at once with NotConnected (Firefly logged and returned None), a child that reconnects
 * under the same name replaces its old link (a restarted process is not refused as a
 * duplicate), and every call has a timeout.
 */
import { createServer, type Server, type Socket } from "node:net";
import { KickCode } from "../protocol/index.ts";
import { listenOn } from "../transport/listen.ts";
import { consoleLogger, type Logger } from "../log/logger.ts";
import { checkTimeout } from "./caller.ts";
import { newCounters, type RpcCounters } from "./counters.ts";
import { errorText, RpcError, RpcErrorCode } from "./errors.ts";
import { Link, type LinkCloseInfo, type Refusal } from "./link.ts";
import { resolveLinkOptions, type LinkOptions, type ResolvedLinkOptions } from "./options.ts";
import { ServiceRegistry, type ServiceDef } from "./service.ts";
import { isValidName, MAX_NODE_NAME } from "./names.ts";
import type { LinkHello } from "./wire.ts";

export interface RootServerOptions extends LinkOptions {
  /** This node's name, sent to children in the handshake. */
  name: string;
  /** Cluster id; children must send the same one (or, like this root, none). */
  cluster?: string;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: any free port; see `address`). */
  port?: number;
  /** Handlers for children's calls (default: a new registry, `root.services`). */
  services?: ServiceRegistry;
  logger?: Logger;
  /** Children connected at once; more are refused with Kick ServerFull (default 1024). */
  maxChildren?: number;
  /** Extra admission check, e.g. only names the cluster config knows. Return a reason to refuse. */
  admit?: (hello: LinkHello) => string | undefined;
}

export interface RootStats extends RpcCounters {
  listening: boolean;
  children: number;
  /** Calls to children waiting for replies. */
  pending: number;
  /** Handlers running for children. */
  inFlight: number;
}

/** Per-call options on a root: `root.withTimeout(ms).callChild(...)`. */
export interface ChildCaller {
  callChild<A extends unknown[], R>(child: string, def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R>;
  notifyChild<A extends unknown[], R>(child: string, def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean;
  withTimeout(timeoutMs: number): ChildCaller;
}

export type ChildConnectedListener = (child: string, link: Link) => void;
export type ChildLostListener = (child: string, info: LinkCloseInfo) => void;

/** Sockets that may be in their handshake at once; beyond this new sockets are dropped. */
const MAX_HANDSHAKING = 64;

export class RootServer implements ChildCaller {
  readonly name: string;
  readonly services: ServiceRegistry;
  readonly log: Logger;
  private readonly options: ResolvedLinkOptions;
  private readonly counters = newCounters();
  private readonly links = new Map<string, Link>();
  /** Every live link, open or still in its handshake. */
  private readonly all = new Set<Link>();
  private readonly connectedListeners = new Set<ChildConnectedListener>();
  private readonly lostListeners = new Set<ChildLostListener>();
  private server: Server | null = null;
  private addressValue: { host: string; port: number } | null = null;
  private closing = false;
  private readonly maxChildren: number;

  constructor(private readonly config: RootServerOptions) {
    if (!isValidName(config.name, MAX_NODE_NAME)) throw new RangeError("RootServer needs a node name of 1 to 128 printable characters");
    if (config.cluster !== undefined && !isValidName(config.cluster, MAX_NODE_NAME)) throw new RangeError("a cluster id must be 1 to 128 printable characters");
    this.name = config.name;
    this.options = resolveLinkOptions(config);
    this.services = config.services ?? new ServiceRegistry();
    this.maxChildren = config.maxChildren ?? 1024;
    this.log = (config.logger ?? consoleLogger()).child({ root: this.name });
  }

  /** Start listening. Resolves with the bound address (the real port when `port` was 0). */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error(`root ${this.name} is already listening`);
    if (this.closing) throw new Error(`root ${this.name} is closed`);
    const host = this.config.host ?? "127.0.0.1";
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    const port = await listenOn(server, this.config.port ?? 0, host);
    server.on("error", (err) => this.log.error("root listener error", { error: err.message }));
    this.server = server;
    this.addressValue = { host, port };
    this.log.info("root listening", { host, port: this.addressValue.port });
    return this.addressValue;
  }

  /** Where the root listens (null before listen() and after close()). */
  get address(): { host: string; port: number } | null {
    return this.addressValue;
  }

  // ---- calling children ----

  callChild<A extends unknown[], R>(child: string, def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R> {
    return this.callChildTimed(child, def, args, undefined) as Promise<R>;
  }

  notifyChild<A extends unknown[], R>(child: string, def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean {
    return this.links.get(child)?.notify(def, ...args) ?? false;
  }

  withTimeout(timeoutMs: number): ChildCaller {
    checkTimeout(timeoutMs);
    const view: ChildCaller = {
      callChild: <A extends unknown[], R>(child: string, def: ServiceDef<A, R>, ...args: NoInfer<A>) =>
        this.callChildTimed(child, def, args, timeoutMs) as Promise<R>,
      notifyChild: (child, def, ...args) => this.notifyChild(child, def, ...args),
      withTimeout: (ms) => this.withTimeout(ms),
    };
    return view;
  }

  private callChildTimed(child: string, def: ServiceDef<unknown[], unknown>, args: unknown[], timeoutMs: number | undefined): Promise<unknown> {
    const link = this.links.get(child);
    if (link === undefined) {
      this.counters.calls++;
      this.counters.errors++;
      return Promise.reject(new RpcError(RpcErrorCode.NotConnected, `${def.name}: no child "${child}" is connected to root ${this.name}`));
    }
    return link.callTimed(def, args, timeoutMs);
  }

  /** The open link of a child, to call it repeatedly or read its state. */
  child(name: string): Link | undefined {
    return this.links.get(name);
  }

  /** Names of the connected children. */
  children(): string[] {
    return [...this.links.keys()];
  }

  /** A child completed its handshake (also after replacing its old link). Returns an unsubscribe function. */
  onChildConnected(listener: ChildConnectedListener): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  /** A child's link ended (or was replaced by a new one: then before the new one's onChildConnected). */
  onChildLost(listener: ChildLostListener): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  get stats(): RootStats {
    let pending = 0;
    let inFlight = 0;
    for (const link of this.links.values()) {
      pending += link.pendingCalls;
      inFlight += link.inFlight;
    }
    return { ...this.counters, listening: this.server !== null, children: this.links.size, pending, inFlight };
  }

  /**
   * Stop listening and close every child link (children are told ShuttingDown and reconnect
   * by themselves). With `deadlineMs`, handlers running for children may finish first.
   */
  async close(options: { deadlineMs?: number } = {}): Promise<void> {
    this.closing = true;
    const server = this.server;
    this.server = null;
    this.addressValue = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await Promise.all([...this.all].map((link) => link.close({ ...options, reason: `root ${this.name} is shutting down` })));
    await closed;
    this.log.info("root closed", { calls: this.counters.calls });
  }

  // ---- accepting ----

  private accept(socket: Socket): void {
    let handshaking = 0;
    for (const link of this.all) if (link.state === "handshake") handshaking++;
    if (this.closing || handshaking >= MAX_HANDSHAKING) {
      this.log.warn("link refused before its handshake", { remote: `${socket.remoteAddress}:${socket.remotePort}`, why: this.closing ? "closing" : "too many handshakes" });
      socket.destroy();
      return;
    }
    const link = new Link({
      socket,
      role: "accept",
      node: this.name,
      cluster: this.config.cluster,
      options: this.options,
      services: this.services,
      counters: this.counters,
      log: this.log,
      events: {
        admit: (hello) => this.admit(hello),
        opened: (l) => this.opened(l),
        closed: (l, info) => this.closed(l, info),
      },
    });
    this.all.add(link);
  }

  private admit(hello: LinkHello): Refusal | undefined {
    if (this.closing) return { code: KickCode.ShuttingDown, reason: `root ${this.name} is shutting down` };
    if (this.links.size >= this.maxChildren && !this.links.has(hello.node)) {
      return { code: KickCode.ServerFull, reason: `root ${this.name} already has ${this.maxChildren} children` };
    }
    let why: string | undefined;
    try {
      why = this.config.admit?.(hello);
    } catch (err) {
      why = "admission check failed";
      this.log.error("admit callback threw", { child: hello.node, error: errorText(err) });
    }
    return why === undefined ? undefined : { code: KickCode.ProtocolError, reason: why };
  }

  private opened(link: Link): void {
    const name = link.peer;
    const old = this.links.get(name);
    if (old !== undefined) {
      // Usually the same child restarted before its old socket was seen to die; a second live
      // process with the same name would be a config error, so it is logged loudly.
      this.links.delete(name);
      this.log.warn("child replaced by a new link under the same name", { child: name, old: old.remoteAddress, new: link.remoteAddress });
      const info: LinkCloseInfo = { code: KickCode.Kicked, reason: `replaced by a new link from ${link.remoteAddress}`, byPeer: false };
      this.emitLost(name, info);
      // Kicked tells a live duplicate not to come back; a dead one never reads it.
      void old.close({ code: KickCode.Kicked, reason: info.reason });
    }
    this.links.set(name, link);
    this.log.info("child connected", { child: name, remote: link.remoteAddress });
    for (const listener of this.connectedListeners) {
      try {
        listener(name, link);
      } catch (err) {
        this.log.error("child connected listener threw", { child: name, error: errorText(err) });
      }
    }
  }

  private closed(link: Link, info: LinkCloseInfo): void {
    this.all.delete(link);
    const name = link.peer;
    if (name === "" || this.links.get(name) !== link) return; // never opened, or replaced already
    this.links.delete(name);
    this.emitLost(name, info);
  }

  private emitLost(name: string, info: LinkCloseInfo): void {
    for (const listener of this.lostListeners) {
      try {
        listener(name, info);
      } catch (err) {
        this.log.error("child lost listener threw", { child: name, error: errorText(err) });
      }
    }
  }
}
