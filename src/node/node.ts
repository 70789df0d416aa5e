/**
 * A node: one server process's runtime, as an object. It is built from a config and app
 * modules, owns its listeners, connections and command registry, and holds no module-level
 * state, so several nodes (a whole cluster) can run in one process.
 */
import {
  command,
  CommandError,
  ErrorCode,
  fireflyFormat,
  isSystemCommand,
  jsonCodec,
  KickCode,
  MessageType,
  nativeFormat,
  SystemCommand,
  type CodecName,
  type EnterBody,
  type LeaveBody,
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
import { resolveSessionSettings } from "../config/sessions.ts";
import { SessionGateway, Sessions, type GatewaySession, type SceneHooks } from "../session/index.ts";
import { SessionRouting } from "./session-routing.ts";
import { NodeData } from "./data.ts";
import { MasterUids } from "./master-uids.ts";
import { gatewayRequest } from "./gateway-commands.ts";

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
  /** The link to the cluster's master (its registry), when there is one: ownership "master" uses it. */
  master?: RootClient;
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
/** The scene hooks, as forwarded system commands (JSON bodies). */
const Enter = command<EnterBody, void>(SystemCommand.Enter, { name: "session enter", codec: "json" });
const Leave = command<LeaveBody, void>(SystemCommand.Leave, { name: "session leave", codec: "json" });

export class Node implements ConnectionHandler {
  readonly name: string;
  readonly log: Logger;
  readonly commands: CommandRegistry;
  /** Services this node offers to other nodes (its root's children and its roots call them). */
  readonly services = new ServiceRegistry();
  /** Sessions: push, channels, scene hooks; on a gateway (config `sessions`) also verify (docs/sessions.md). */
  readonly sessions: Sessions;
  /** The node's database and entity cache, from its `db` and `data` config (docs/data.md). */
  readonly data: NodeData;
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
    const maxConnections = this.config.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const sessionSettings = this.config.sessions === undefined ? null : resolveSessionSettings(this.config.sessions);
    const gateway =
      sessionSettings === null
        ? null
        : new SessionGateway(this.name, sessionSettings, this.sceneHooks(), this.log, sessionSettings.maxSessions ?? maxConnections, options.master === undefined ? null : new MasterUids(options.master, this.log));
    this.sessions = new Sessions(this.name, codec, this.log, gateway);
    this.data = new NodeData(this.name, this.config.db, this.config.data ?? {}, this.log, options.master);
    this.commands.system(Enter, async (body, client) => {
      if (client.session === undefined) throw new CommandError(ErrorCode.BadPayload, "enter without a session");
      await this.sessions.runEnter({ ...client.session, scene: this.name }, body.fromScene ?? null, body.extra);
    });
    this.commands.system(Leave, async (body, client) => {
      if (client.session === undefined) throw new CommandError(ErrorCode.BadPayload, "leave without a session");
      await this.sessions.runLeave(client.session, body.toScene);
    });
    const limits = [this.config.limits, ...(this.config.tcp ?? []).map((l) => l.limits), ...(this.config.ws ?? []).map((l) => l.limits)];
    const shortest = Math.min(...limits.map((l) => resolveLimits(this.config.limits, l)).map((l) => Math.min(l.heartbeatMs, l.idleTimeoutMs, l.handshakeTimeoutMs)));
    this.hub = new ConnectionHub({
      handler: this,
      log: this.log,
      maxConnections,
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
      // Before any client or node is served: a journal left by a crash is replayed first.
      await this.data.open();
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
      await this.data.close();
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
    const gateway = this.sessions.gateway;
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
        // Behind a session gateway, forwarded clients are named by session id.
        push: (id, command, body) => (gateway === null ? (this.hub.get(id)?.push(command, body) ?? false) : gateway.pushTo([id], command, body) > 0),
        kick: (id, reason) => (gateway === null ? this.kick(id, reason) : this.endSession(id, reason)),
      },
    });
    this.sessions.routes = new SessionRouting({ name: this.name, sessions: this.sessions, root: this.rootServer, remotes: [...this.remotes.values()], log: this.log, timeoutMs });
    this.forwarding.goneListeners.add((client) => {
      // A session that ended in this node's scene (its gateway said so, or the gateway was lost).
      if (client.session != null && client.scene === this.name) {
        this.sessions.runOffline({ gateway: client.net, id: client.id, uid: client.session.uid, scene: this.name, data: client.session.data });
      }
    });
  }

  private endSession(id: number, reason: string): boolean {
    const gateway = this.sessions.gateway;
    const session = gateway?.get(id);
    if (gateway == null || session === undefined) return false;
    gateway.end(session, KickCode.Kicked, reason);
    return true;
  }

  /** How this gateway's sessions reach their scenes: this node's own hooks, or forwarded system commands. */
  private sceneHooks(): SceneHooks {
    const call = async (session: GatewaySession, scene: string, def: typeof Enter | typeof Leave, body: EnterBody | LeaveBody): Promise<void> => {
      const forwarding = this.forwarding;
      if (forwarding === null) throw new Error(`no route to scene ${scene}: node ${this.name} is not part of a cluster`);
      await forwarding.call(this.sessionWire(session, scene), def.id, jsonCodec.encode(body), scene);
    };
    return {
      enter: async (session, scene, fromScene, extra) => {
        if (scene === this.name) await this.sessions.runEnter({ ...this.sessions.refOf(session), scene }, fromScene, extra);
        else await call(session, scene, Enter, extra === undefined ? { fromScene } : { fromScene, extra });
      },
      leave: async (session, scene, toScene) => {
        if (scene === this.name) await this.sessions.runLeave({ ...this.sessions.refOf(session), scene }, toScene);
        else await call(session, scene, Leave, { toScene });
      },
      offline: (session, scene) => {
        if (scene === null) return;
        if (scene === this.name) this.sessions.runOffline({ ...this.sessions.refOf(session), scene });
        else this.forwarding?.clientClosed(this.sessionWire(session, scene), scene);
      },
    };
  }

  /** The forwarding header of a session, as if it were in `scene`. */
  private sessionWire(session: GatewaySession, scene: string | null): Uint8Array {
    const forwarding = this.forwarding;
    if (forwarding === null) throw new Error(`node ${this.name} is not part of a cluster`);
    const wire = forwarding.clientWire({
      id: session.id,
      remoteAddress: session.remoteAddress,
      transport: session.transport,
      ...(scene === null ? {} : { scene }),
      session: { uid: session.uid, data: session.data },
    });
    if (scene === session.scene) session.wire = wire;
    return wire;
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
    // Detached sessions end now: their scenes hear `offline` while the links are still up.
    this.sessions.gateway?.close();
    await this.leaveCluster();
    await this.data.close().catch((err: unknown) => this.log.error("data did not close cleanly", { error: err instanceof Error ? err.message : String(err) }));
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
    const context = new ConnectionContext(connection, this.codecs, this.sessions);
    connection.context = context;
    const gateway = this.sessions.gateway;
    if (gateway !== null) {
      const ms = gateway.settings.loginTimeoutMs;
      // Counted from the handshake: a connection that never logs in must not hold a slot.
      context.loginTimer = setTimeout(() => {
        if (context.attached === null && connection.isOpen) connection.close(KickCode.LoginTimeout, `no login within ${ms} ms`);
      }, ms);
      context.loginTimer.unref();
    }
  }

  request(connection: Connection, message: Message): void {
    this.counters.requests++;
    const gateway = this.sessions.gateway;
    if (isSystemCommand(message.command)) {
      if (gateway !== null && this.state === "running" && gatewayRequest(gateway, connection, message, this.gatewayDone)) {
        this.inFlight++;
        return;
      }
      this.counters.errors++;
      connection.respondError(message, ErrorCode.UnknownCommand, `unknown command ${message.command}`);
      return;
    }
    this.dispatchRequest(connection, message);
  }

  /** A login, resume or logout has been answered. */
  private readonly gatewayDone = (failed: boolean): void => {
    if (failed) this.counters.errors++;
    this.finish();
  };

  private dispatchRequest(connection: Connection, message: Message): void {
    const session = this.sessionOf(connection, message, true);
    if (session === false) return;
    const entry = this.commands.lookup(message.command);
    if (entry === undefined) {
      const scene = session?.scene ?? null;
      if (this.forwarding !== null && (scene !== null ? scene !== this.name : this.forwarding.covers(message.command))) {
        this.forwardRequest(this.forwarding, connection, message, scene);
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
    if (isSystemCommand(message.command)) {
      this.dropNotify(connection, message, "system commands are requests");
      return;
    }
    this.dispatchNotify(connection, message);
  }

  private dispatchNotify(connection: Connection, message: Message): void {
    const session = this.sessionOf(connection, message, false);
    if (session === false) return;
    const entry = this.commands.lookup(message.command);
    if (entry === undefined && this.forwarding !== null && this.state === "running") {
      const scene = session?.scene ?? null;
      if (scene !== null ? scene !== this.name : this.forwarding.covers(message.command)) {
        this.forwarding.notify(this.wireOf(this.forwarding, connection), message.command, message.body, scene);
        connection.release();
        return;
      }
    }
    if (entry === undefined || this.state === "stopping") {
      this.dropNotify(connection, message, entry ? "stopping" : "unknown command");
      return;
    }
    const input = this.decode(connection, message, entry);
    if (input !== FAILED) this.run(entry, input, connection, message, false);
    else connection.release();
  }

  private dropNotify(connection: Connection, message: Message, why: string): void {
    this.counters.droppedNotifies++;
    this.log.debug("notify dropped", { connection: connection.id, command: message.command, why });
    connection.release();
  }

  /**
   * On a session gateway: the connection's session (null elsewhere), or false when the command
   * was answered or held here (not logged in; the session is moving between scenes).
   */
  private sessionOf(connection: Connection, message: Message, request: boolean): GatewaySession | null | false {
    if (this.sessions.gateway === null) return null;
    const context = connection.context as ConnectionContext;
    const session = context.attached;
    if (session === null) {
      this.counters.errors++;
      if (request) connection.respondError(message, ErrorCode.LoginRequired, "log in first");
      else this.dropNotify(connection, message, "not logged in");
      return false;
    }
    if (session.held !== null) {
      session.held.push({
        connection: context,
        run: () => (request ? this.dispatchRequest(connection, message) : this.dispatchNotify(connection, message)),
      });
      return false;
    }
    return session;
  }

  closed(connection: Connection, info: CloseInfo): void {
    const context = connection.context as ConnectionContext | undefined;
    const gateway = this.sessions.gateway;
    if (gateway !== null) {
      // The session waits for a resume; its scene hears of it only when it ends.
      if (context !== undefined) {
        context.clearLoginTimer();
        gateway.connectionClosed(context);
      }
    } else if (this.forwarding !== null && context !== undefined) {
      // Tell the gateway (and through it the node that owned the client) that it left.
      this.forwarding.clientClosed(this.wireOf(this.forwarding, connection));
    }
    this.log.debug("connection closed", { connection: connection.id, code: info.code, reason: info.reason });
  }

  private wireOf(forwarding: Forwarding, connection: Connection): Uint8Array {
    const context = connection.context as ConnectionContext;
    const session = context.attached;
    if (session !== null) return session.wire ?? this.sessionWire(session, session.scene);
    context.forwardWire ??= forwarding.clientWire({ id: connection.id, remoteAddress: connection.remoteAddress, transport: connection.transport });
    return context.forwardWire;
  }

  private forwardRequest(forwarding: Forwarding, connection: Connection, message: Message, scene: string | null): void {
    this.inFlight++;
    forwarding.request(
      this.wireOf(forwarding, connection),
      message.command,
      message.body,
      (error, body) => {
        this.finish();
        if (error === null) {
          connection.respond(message, body.length === 0 ? undefined : body);
          return;
        }
        this.counters.errors++;
        connection.respondError(message, error.code, error.message);
      },
      scene,
    );
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
