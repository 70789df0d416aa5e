/**
 * A node: one server process's runtime, as an object. It is built from a config and app
 * modules, owns its listeners, connections and command registry, and holds no module-level
 * state, so several nodes (a whole cluster) can run in one process.
 */
import {
  CommandError,
  ErrorCode,
  fireflyFormat,
  KickCode,
  MessageType,
  nativeFormat,
  type CodecName,
  type FrameFormat,
  type Message,
  type PushDef,
} from "../protocol/index.ts";
import {
  ConnectionHub,
  TcpAcceptor,
  WsAcceptor,
  type Acceptor,
  type CloseInfo,
  type Connection,
  type ConnectionHandler,
  type ListenAddress,
} from "../transport/index.ts";
import { parseNodeConfig, resolveLimits, type NodeConfigInput } from "../config/index.ts";
import { consoleLogger, type Logger } from "../log/logger.ts";
import type { App } from "./app.ts";
import { ConnectionContext, PushEncoder } from "./context.ts";
import { CommandRegistry, type ClientContext, type CommandEntry } from "./registry.ts";
import type { ClientRef } from "./forward-wire.ts";
import { Forwarding } from "./forwarding.ts";
import type { Router } from "./routers.ts";
import { RootClient, RootServer, ServiceRegistry } from "../rpc/index.ts";

/** How a node joins a cluster: its root port, its links to roots, and what it forwards. */
export interface ClusterWiring {
  /** Accept child nodes here (Firefly's rootport). */
  root?: { host: string; port: number };
  /** Links to roots (Firefly's remoteport); each reconnects by itself. */
  links?: readonly { rootName: string; host: string; port: number }[];
  /** Default inter-node call timeout. */
  timeoutMs?: number;
  /** Client commands without a local handler that go to the root named `to`. */
  forward?: { to: string; ranges: readonly (readonly [number, number])[] } | null;
  /** On a root: the children that take forwarded commands (default: all but the client's net node). */
  routeTo?: readonly string[];
  /**
   * On a root: how long a net child's link may stay down before its clients count as gone and
   * their owners get disconnect notices (default 10 s). A net node that comes back within it
   * keeps its clients; one that restarted is recognised at once and its old clients are gone.
   */
  netGraceMs?: number;
}

export interface NodeOptions {
  /** The node's config (validated here; see docs/config.md). */
  config: NodeConfigInput;
  /** App modules, run in order by start(). */
  apps?: readonly App[];
  /** Defaults to a console logger at the config's log level. */
  logger?: Logger;
  /** Root port, links and forwarding, for a node of a cluster. */
  cluster?: ClusterWiring;
}

export interface NodeStats {
  connections: number;
  inFlight: number;
  /** Calls to other nodes waiting for replies, and handlers running for other nodes. */
  rpcPending: number;
  rpcInFlight: number;
  requests: number;
  errors: number;
  droppedNotifies: number;
}

type NodeState = "new" | "starting" | "running" | "stopping" | "stopped";

const DEFAULT_STOP_DEADLINE_MS = 5000;
/** Marks a request whose body could not be decoded (undefined is a valid payload). */
const FAILED: unique symbol = Symbol("decode failed");
const DEFAULT_MAX_CONNECTIONS = 100_000;

export class Node implements ConnectionHandler {
  readonly name: string;
  readonly log: Logger;
  readonly commands: CommandRegistry;
  /** Services this node offers to other nodes (its root's children and its roots call them). */
  readonly services = new ServiceRegistry();
  private rootServer: RootServer | null = null;
  private readonly remotes = new Map<string, RootClient>();
  private forwarding: Forwarding | null = null;
  private readonly wiring: ClusterWiring;
  private readonly config: NodeConfigInput;
  private readonly apps: readonly App[];
  private readonly hub: ConnectionHub;
  private readonly acceptors: Acceptor[] = [];
  private listening: ListenAddress[] = [];
  private state: NodeState = "new";
  private readonly codecs: PushEncoder;
  private readonly counters = { requests: 0, errors: 0, droppedNotifies: 0 };
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: NodeOptions) {
    this.config = parseNodeConfig(options.config);
    this.name = this.config.name;
    this.apps = options.apps ?? [];
    this.wiring = options.cluster ?? {};
    this.log = (options.logger ?? consoleLogger({ level: this.config.log?.level ?? "info" })).child({ node: this.name });
    const codec: CodecName = this.config.codec ?? "json";
    this.codecs = new PushEncoder(codec);
    this.commands = new CommandRegistry(codec);
    const limits = [this.config.limits, ...(this.config.tcp ?? []).map((l) => l.limits), ...(this.config.ws ?? []).map((l) => l.limits)];
    const shortest = Math.min(...limits.map((l) => resolveLimits(this.config.limits, l)).map((l) => Math.min(l.heartbeatMs, l.idleTimeoutMs, l.handshakeTimeoutMs)));
    this.hub = new ConnectionHub({
      handler: this,
      log: this.log,
      maxConnections: this.config.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      codec,
      // A quarter of the shortest timeout keeps timeouts within 25% of their setting.
      sweepMs: Math.max(10, Math.min(1000, Math.floor(shortest / 4))),
    });
    this.wire();
  }

  /** Run the app modules, then open every configured listener. Returns where it listens. */
  async start(): Promise<ListenAddress[]> {
    if (this.state !== "new") throw new Error(`node ${this.name} cannot start: it is ${this.state}`);
    this.state = "starting";
    try {
      for (const app of this.apps) await app(this);
      await this.joinCluster();
      for (const tcp of this.config.tcp ?? []) {
        const limits = resolveLimits(this.config.limits, tcp.limits);
        const format: FrameFormat =
          tcp.frame === "firefly" ? fireflyFormat({ ...tcp.firefly, maxBody: limits.maxBodyBytes }) : nativeFormat({ maxBody: limits.maxBodyBytes });
        this.acceptors.push(new TcpAcceptor(this.hub, { host: tcp.host ?? "127.0.0.1", port: tcp.port, format, limits }, this.log));
      }
      for (const ws of this.config.ws ?? []) {
        const limits = resolveLimits(this.config.limits, ws.limits);
        const format = nativeFormat({ maxBody: limits.maxBodyBytes });
        this.acceptors.push(new WsAcceptor(this.hub, { host: ws.host ?? "127.0.0.1", port: ws.port, path: ws.path ?? "/", format, limits }, this.log));
      }
      for (const acceptor of this.acceptors) this.listening.push(await acceptor.listen());
    } catch (err) {
      for (const acceptor of this.acceptors) acceptor.close();
      await this.leaveCluster();
      this.state = "stopped";
      throw err;
    }
    this.hub.startSweeping();
    this.state = "running";
    for (const a of this.listening) {
      this.log.info("listening", { transport: a.transport, frame: a.frame, address: `${a.host}:${a.port}${a.path}` });
    }
    return this.listening;
  }

  /** This node's root server (Firefly's rootport), or null. */
  get root(): RootServer | null {
    return this.rootServer;
  }

  /** The link to the root named `rootName` (Firefly's `remote[name]`). */
  remote(rootName: string): RootClient | undefined {
    return this.remotes.get(rootName);
  }

  /** Choose which child a forwarded command goes to (default: sticky per client, round-robin). */
  setRouter(router: Router): void {
    if (this.forwarding === null) throw new Error(`node ${this.name} routes nothing: it has no root port`);
    this.forwarding.router = router;
  }

  /**
   * Be told when a client that sent commands here through a gateway disconnects (on a gateway:
   * any client of its net nodes). Returns a function that removes the listener.
   */
  onClientGone(listener: (client: ClientRef) => void): () => void {
    if (this.forwarding === null) throw new Error(`node ${this.name} is not part of a cluster`);
    const listeners = this.forwarding.goneListeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Build the root server, root links and forwarding (nothing listens or connects yet). */
  private wire(): void {
    const { root, links = [], timeoutMs, forward } = this.wiring;
    if (root) this.rootServer = new RootServer({ name: this.name, host: root.host, port: root.port, services: this.services, logger: this.log, timeoutMs });
    for (const link of links) this.remotes.set(link.rootName, new RootClient({ name: this.name, services: this.services, logger: this.log, timeoutMs }));
    if (this.rootServer === null && this.remotes.size === 0) return;
    const up = forward ? this.remotes.get(forward.to) : undefined;
    if (forward && up === undefined) throw new Error(`node ${this.name} forwards to "${forward.to}", which is not one of its roots`);
    this.forwarding = new Forwarding({
      name: this.name,
      commands: this.commands,
      encoder: this.codecs,
      log: this.log,
      up: up ?? null,
      ranges: forward?.ranges ?? [],
      root: this.rootServer,
      targets: this.wiring.routeTo,
      netGraceMs: this.wiring.netGraceMs,
      remotes: [...this.remotes.values()],
      local: {
        push: (id, command, body) => this.hub.get(id)?.push(command, body) ?? false,
        kick: (id, reason) => this.kick(id, reason),
      },
    });
  }

  /** Open the root port and start the links (after the apps registered their services). */
  private async joinCluster(): Promise<void> {
    await this.rootServer?.listen(); // it logs where it listens
    for (const link of this.wiring.links ?? []) {
      // The link retries by itself; a root that is not up yet is joined when it appears.
      this.remotes.get(link.rootName)?.connect(link.host, link.port).catch((err: unknown) => {
        this.log.debug("first connect to root failed; retrying", { root: link.rootName, error: String(err) });
      });
    }
  }

  private async leaveCluster(): Promise<void> {
    this.forwarding?.close();
    await Promise.all([...this.remotes.values()].map((r) => r.close()));
    await this.rootServer?.close();
  }

  /** Where the node listens (after start). */
  get addresses(): readonly ListenAddress[] {
    return this.listening;
  }

  get stats(): NodeStats {
    const links = [...this.remotes.values()].map((r) => r.stats);
    const root = this.rootServer?.stats;
    const rpcPending = (root?.pending ?? 0) + links.reduce((sum, l) => sum + l.pending, 0);
    const rpcInFlight = (root?.inFlight ?? 0) + links.reduce((sum, l) => sum + l.inFlight, 0);
    return { connections: this.hub.size, inFlight: this.inFlight, rpcPending, rpcInFlight, ...this.counters };
  }

  /** The context of an open client connection. */
  client(id: number): ClientContext | undefined {
    return this.hub.get(id)?.context as ClientContext | undefined;
  }

  /** Every open client connection. */
  *clients(): IterableIterator<ClientContext> {
    for (const connection of this.hub.connections()) {
      if (connection.isOpen) yield connection.context as ClientContext;
    }
  }

  /** Push a declared message to one client by id. Returns false if it is gone or could not be queued. */
  push<T>(clientId: number, message: PushDef<T>, data: T): boolean {
    const connection = this.hub.get(clientId);
    return connection !== undefined && connection.push(message.id, this.encodePush(message, data));
  }

  /** Push to every open client; the frame is encoded once per frame format. Returns how many got it. */
  broadcast<T>(message: PushDef<T>, data: T): number {
    const body = this.encodePush(message, data);
    const frames = new Map<FrameFormat, Uint8Array | null>();
    let sent = 0;
    for (const connection of this.hub.connections()) {
      if (!connection.isOpen) continue;
      let frame = frames.get(connection.format);
      if (frame === undefined) {
        frame = connection.format.encode({ type: MessageType.Push, id: 0, command: message.id, body });
        frames.set(connection.format, frame);
      }
      if (frame !== null && connection.write(frame)) sent++;
    }
    return sent;
  }

  /** Close a client's connection with a reason. */
  kick(clientId: number, reason: string): boolean {
    const connection = this.hub.get(clientId);
    connection?.close(KickCode.Kicked, reason);
    return connection !== undefined;
  }

  /**
   * Graceful stop: stop accepting, let in-flight requests finish until the deadline, then
   * kick every client with ShuttingDown; connections still open after that are dropped.
   */
  async stop(options: { deadlineMs?: number } = {}): Promise<void> {
    if (this.state === "stopping" || this.state === "stopped") return;
    const deadline = Date.now() + (options.deadlineMs ?? this.config.stopDeadlineMs ?? DEFAULT_STOP_DEADLINE_MS);
    this.state = "stopping";
    for (const acceptor of this.acceptors) acceptor.close();
    const finished = await this.idle(deadline - Date.now());
    if (!finished) this.log.warn("stop deadline reached with requests in flight", { inFlight: this.inFlight });
    for (const connection of [...this.hub.connections()]) connection.close(KickCode.ShuttingDown, "server shutting down");
    if (!(await this.hub.drained(Math.max(100, deadline - Date.now())))) {
      for (const connection of [...this.hub.connections()]) connection.abort(KickCode.ShuttingDown, "stop deadline reached");
    }
    this.hub.stopSweeping();
    await this.leaveCluster();
    this.state = "stopped";
    this.log.info("stopped", { requests: this.counters.requests });
  }

  private async idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    if (timeoutMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private encodePush<T>(message: PushDef<T>, data: T): Uint8Array {
    return this.codecs.encodePush(message, data);
  }

  // ConnectionHandler: the transport's traffic arrives here.

  opened(connection: Connection): void {
    if (this.state !== "running") {
      connection.close(KickCode.ShuttingDown, "server is not accepting clients");
      return;
    }
    connection.context = new ConnectionContext(connection, this.codecs);
  }

  request(connection: Connection, message: Message): void {
    this.counters.requests++;
    const entry = this.commands.lookup(message.command);
    if (entry === undefined) {
      if (this.forwarding?.covers(message.command)) {
        this.forwardRequest(this.forwarding, connection, message);
        return;
      }
      this.counters.errors++;
      connection.respondError(message, ErrorCode.UnknownCommand, `unknown command ${message.command}`);
      return;
    }
    if (this.state === "stopping") {
      connection.respondError(message, ErrorCode.ShuttingDown, "server is shutting down");
      return;
    }
    const input = this.decode(connection, message, entry);
    if (input === FAILED) return;
    this.run(entry, input, connection, message, true);
  }

  notify(connection: Connection, message: Message): void {
    const entry = this.commands.lookup(message.command);
    if (entry === undefined && this.forwarding?.covers(message.command) && this.state === "running") {
      this.forwarding.notify(this.wireOf(this.forwarding, connection), message.command, message.body);
      connection.release();
      return;
    }
    if (entry === undefined || this.state === "stopping") {
      this.counters.droppedNotifies++;
      this.log.debug("notify dropped", { connection: connection.id, command: message.command, why: entry ? "stopping" : "unknown command" });
      connection.release();
      return;
    }
    const input = this.decode(connection, message, entry);
    if (input !== FAILED) this.run(entry, input, connection, message, false);
    else connection.release();
  }

  closed(connection: Connection, info: CloseInfo): void {
    // Tell the gateway (and through it the node that owned the client) that it left.
    if (this.forwarding !== null && connection.context !== undefined) this.forwarding.clientClosed(this.wireOf(this.forwarding, connection));
    this.log.debug("connection closed", { connection: connection.id, code: info.code, reason: info.reason });
  }

  private wireOf(forwarding: Forwarding, connection: Connection): Uint8Array {
    const context = connection.context as ConnectionContext;
    context.forwardWire ??= forwarding.clientWire({ id: connection.id, remoteAddress: connection.remoteAddress, transport: connection.transport });
    return context.forwardWire;
  }

  private forwardRequest(forwarding: Forwarding, connection: Connection, message: Message): void {
    this.inFlight++;
    forwarding.request(this.wireOf(forwarding, connection), message.command, message.body, (error, body) => {
      this.finish();
      if (error === null) {
        connection.respond(message, body.length === 0 ? undefined : body);
        return;
      }
      this.counters.errors++;
      connection.respondError(message, error.code, error.message);
    });
  }

  private decode(connection: Connection, message: Message, entry: CommandEntry): unknown {
    let input: unknown;
    try {
      input = entry.codec.decode(message.body);
    } catch {
      this.badPayload(connection, message, `body is not valid ${entry.codec.name}`);
      return FAILED;
    }
    if (entry.validate !== undefined && !entry.validate(input)) {
      this.badPayload(connection, message, `${entry.name}: request failed validation`);
      return FAILED;
    }
    return input;
  }

  private badPayload(connection: Connection, message: Message, why: string): void {
    this.counters.errors++;
    if (message.type === MessageType.Request) connection.respondError(message, ErrorCode.BadPayload, why);
    else this.log.debug("notify with bad payload dropped", { connection: connection.id, command: message.command });
  }

  private run(entry: CommandEntry, input: unknown, connection: Connection, message: Message, reply: boolean): void {
    this.inFlight++;
    let result: unknown;
    try {
      result = entry.handler(input, connection.context as ClientContext);
    } catch (err) {
      this.failed(entry, connection, message, reply, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => this.succeeded(entry, connection, message, reply, value),
        (err: unknown) => this.failed(entry, connection, message, reply, err),
      );
    } else {
      this.succeeded(entry, connection, message, reply, result);
    }
  }

  private succeeded(entry: CommandEntry, connection: Connection, message: Message, reply: boolean, value: unknown): void {
    this.finish();
    if (!reply) {
      connection.release();
      return;
    }
    let body: Uint8Array | undefined;
    try {
      body = value === undefined || value === null ? undefined : entry.codec.encode(value);
    } catch (err) {
      this.failed(entry, connection, message, reply, err, false);
      return;
    }
    if (body !== undefined && body.length > connection.format.maxBody) {
      this.failed(entry, connection, message, reply, new Error(`reply of ${body.length} bytes exceeds the frame limit`), false);
      return;
    }
    connection.respond(message, body);
  }

  private failed(entry: CommandEntry, connection: Connection, message: Message, reply: boolean, err: unknown, counted = true): void {
    if (counted) this.finish();
    this.counters.errors++;
    if (!reply) connection.release();
    if (err instanceof CommandError) {
      if (reply) connection.respondError(message, err.code, err.message);
      else this.log.debug("notify handler refused", { command: entry.id, code: err.code, error: err.message });
      return;
    }
    // Details stay in the server log; the client learns only that the handler failed.
    this.log.error("command handler failed", {
      command: entry.id,
      name: entry.name,
      connection: connection.id,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    if (reply) connection.respondError(message, ErrorCode.HandlerFailed, `${entry.name} failed`);
  }

  private finish(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
