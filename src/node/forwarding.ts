/**
 * Built-in forwarding, Firefly's net → gate → game path as framework code (Firefly left it to
 * each game): a net node forwards client commands it has no handler for to its root; a node
 * that receives a forwarded command runs it if it has the handler, otherwise (as a root) routes
 * it to a child. Replies return along the same calls; pushes and kicks travel back down the
 * tree by the client's net node; a disconnect is announced upwards.
 *
 * It all travels on raw link channels (forward-wire.ts): a gate that routes a command reads its
 * header and hands the same bytes to the child, and the child's reply bytes back to the net node.
 */
import { CommandError, encodeControl, decodeControl, ErrorCode, MessageType, ByteSlab, type ErrorBody, type PushDef } from "../protocol/index.ts";
import { RpcError, RpcErrorCode, type Link, type RootClient, type RootServer, type ReplyType } from "../rpc/index.ts";
import type { Logger } from "../log/logger.ts";
import type { PushEncoder } from "./context.ts";
import { Channel, decodeForwarded, encodeClientWire, encodeForwarded, NameCache, type ClientRef, type ForwardedMessage } from "./forward-wire.ts";
import type { ClientContext, CommandEntry, CommandRegistry } from "./registry.ts";
import { ClientMap } from "./client-map.ts";
import { routers, type Router } from "./routers.ts";
import type { SessionRef } from "../session/index.ts";

export interface ForwardingSetup {
  name: string;
  commands: CommandRegistry;
  encoder: PushEncoder;
  log: Logger;
  /** The root client a net node forwards to (null: this node forwards nothing itself). */
  up: RootClient | null;
  /** Command ranges the net node forwards. */
  ranges: readonly (readonly [number, number])[];
  /** This node's root server, when it has children to route to. */
  root: RootServer | null;
  /** Children that take forwarded commands (default: every child but the client's own net node). */
  targets: readonly string[] | undefined;
  /** Every root client of this node: pushes for clients of other nets go up through them. */
  remotes: readonly RootClient[];
  /** Push/kick a client connected to this node. */
  local: { push(id: number, command: number, body: Uint8Array): boolean; kick(id: number, reason: string): boolean };
  /** How long a net child's link may stay down before its clients count as gone (default 10 s). */
  netGraceMs?: number;
}

/** What a gateway remembers of each client it has seen: where its commands went, and its bytes for notices. */
interface Seen {
  /** The child its commands were last routed to; null while it only used this node's handlers. */
  child: string | null;
  client: ClientRef;
  wire: Uint8Array;
}

const DEFAULT_NET_GRACE_MS = 10_000;
/** How errors of forwarded calls name them (a constant: no string is built per command). */
const FORWARD_LABEL = "forwarded command";

/** The outcome of a forwarded request on the net node: an error, or the reply body. */
export type ForwardDone = (error: CommandError | null, body: Uint8Array) => void;

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export class Forwarding {
  router: Router = routers.sticky();
  /** Told when a client held by another node (or this one) has disconnected. */
  readonly goneListeners = new Set<(client: ClientRef) => void>();
  /** Every client of a net child seen here, for disconnect notices. */
  private readonly seen = new ClientMap<Seen>();
  /** Each net child's link instance (LinkHello.instance): a new one means the node restarted. */
  private readonly instances = new Map<string, string | undefined>();
  /** Net children whose link is down, counting down to their clients being declared gone. */
  private readonly graceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Children a client of each net node may be routed to (rebuilt when children come and go). */
  private readonly candidates = new Map<string, readonly string[]>();
  private readonly slab = new ByteSlab();
  private readonly names = new NameCache();

  constructor(private readonly setup: ForwardingSetup) {
    const root = setup.root;
    for (const registry of new Set([root?.services, ...setup.remotes.map((r) => r.services)])) {
      if (!registry) continue;
      registry.channel(Channel.Forward, this.onForward);
      registry.channel(Channel.ForwardNotify, this.onForwardNotify);
      registry.channel(Channel.Push, (_link, _id, body) => this.onDown(Channel.Push, body));
      registry.channel(Channel.Kick, (_link, _id, body) => this.onDown(Channel.Kick, body));
      registry.channel(Channel.Gone, (_link, _id, body) => this.onGone(body));
    }
    root?.onChildConnected((child, link) => this.childConnected(child, link));
    root?.onChildLost((child) => this.childLost(child));
  }

  /** Whether a client command with no local handler is forwarded by this node. */
  covers(command: number): boolean {
    if (this.setup.up === null) return false;
    for (const [first, last] of this.setup.ranges) if (command >= first && command <= last) return true;
    return false;
  }

  /** The bytes that name a client of this node in forwarding bodies (encode once per connection). */
  clientWire(client: Omit<ClientRef, "net">): Uint8Array {
    return encodeClientWire({ ...client, net: this.setup.name });
  }

  /**
   * Net side: send a client's request up (or, for a session, towards its scene); `done` gets the
   * reply body or a CommandError.
   */
  request(wire: Uint8Array, command: number, payload: Uint8Array, done: ForwardDone, scene?: string | null): void {
    const link = this.linkFor(scene);
    if (link == null) {
      done(new CommandError(ErrorCode.Unavailable, `forwarding failed: no link to ${scene ?? this.setup.up?.root ?? "the gateway"}`), EMPTY);
      return;
    }
    link.callRaw(Channel.Forward, FORWARD_LABEL, encodeForwarded(this.slab, command, wire, payload), undefined, (err, type, body) => {
      if (err !== null) done(localError(err), EMPTY);
      else if (type === MessageType.Error) done(remoteError(body), EMPTY);
      else done(null, body);
    });
  }

  notify(wire: Uint8Array, command: number, payload: Uint8Array, scene?: string | null): boolean {
    return this.linkFor(scene)?.notifyRaw(Channel.ForwardNotify, encodeForwarded(this.slab, command, wire, payload)) ?? false;
  }

  /** A forwarded request as a promise (the gateway's scene hooks): resolves with the reply body. */
  call(wire: Uint8Array, command: number, payload: Uint8Array, scene: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.request(wire, command, payload, (error, body) => (error === null ? resolve(body) : reject(error)), scene));
  }

  /** Net side: a client (or session) left; tell the gateway (and through it, the node that owned it). */
  clientClosed(wire: Uint8Array, scene?: string | null): void {
    this.linkFor(scene)?.notifyRaw(Channel.Gone, encodeForwarded(this.slab, 0, wire, EMPTY));
  }

  /** A session's scene when it is a child of this node, else the root this node forwards to. */
  private linkFor(scene: string | null | undefined): Link | null | undefined {
    const child = scene == null ? undefined : this.setup.root?.child(scene);
    return child ?? this.setup.up?.currentLink;
  }

  /** The handler here for a forwarded command, unless it belongs to a session in another scene. */
  private localEntry(message: ForwardedMessage): CommandEntry | undefined {
    const scene = message.client.scene;
    return scene === "" || scene === this.setup.name ? this.setup.commands.lookup(message.command) : undefined;
  }

  /** A context that reaches a client held by another node. */
  contextFor(client: ClientRef): ClientContext {
    return new RemoteClientContext(client, this);
  }

  /** Push to a client held anywhere in the tree (down to its net node, or up towards it). */
  pushTo(client: ClientRef, command: number, payload: Uint8Array): void {
    if (client.net === this.setup.name) this.setup.local.push(client.id, command, payload);
    else this.relay(Channel.Push, client, encodeForwarded(this.slab, command, encodeClientWire(client), payload));
  }

  kickTo(client: ClientRef, reason: string): void {
    if (client.net === this.setup.name) this.setup.local.kick(client.id, reason);
    else this.relay(Channel.Kick, client, encodeForwarded(this.slab, 0, encodeClientWire(client), utf8.encode(reason)));
  }

  encodePush<T>(message: PushDef<T>, data: T): Uint8Array {
    return this.setup.encoder.encodePush(message, data);
  }

  /** A forwarded request: run it here, or pass its bytes to the child the router picks. */
  private readonly onForward = (from: Link, id: number, body: Uint8Array): void => {
    const message = this.decode(body);
    if (message === null) {
      from.replyRaw(id, MessageType.Error, errorBody(ErrorCode.BadPayload, "malformed forwarding body"));
      return;
    }
    const entry = this.localEntry(message);
    if (entry !== undefined) {
      this.track(message, null);
      this.invoke(entry, message, (error, reply) => {
        if (error === null) from.replyRaw(id, MessageType.Response, reply ?? EMPTY);
        else from.replyRaw(id, MessageType.Error, errorBody(error.code, error.message));
      });
      return;
    }
    const to = this.routeLink(message);
    if (to instanceof CommandError) {
      from.replyRaw(id, MessageType.Error, errorBody(to.code, to.message));
      return;
    }
    to.callRaw(Channel.Forward, FORWARD_LABEL, body, undefined, (err: RpcError | null, type: ReplyType, reply: Uint8Array) => {
      if (err === null) from.replyRaw(id, type, reply);
      else {
        const error = localError(err);
        from.replyRaw(id, MessageType.Error, errorBody(error.code, error.message));
      }
    });
  };

  private readonly onForwardNotify = (_from: Link, _id: number, body: Uint8Array): void => {
    const message = this.decode(body);
    if (message === null) return;
    const entry = this.localEntry(message);
    if (entry !== undefined) {
      this.track(message, null);
      this.invoke(entry, message, (error) => {
        if (error !== null) this.setup.log.debug("forwarded notify refused", { command: message.command, code: error.code, error: error.message });
      });
      return;
    }
    const to = this.routeLink(message);
    if (to instanceof CommandError) this.setup.log.debug("forwarded notify dropped", { command: message.command, why: to.message });
    else to.notifyRaw(Channel.ForwardNotify, body);
  };

  /** A push or kick travelling towards the client's net node. */
  private onDown(channel: typeof Channel.Push | typeof Channel.Kick, body: Uint8Array): void {
    const message = this.decode(body);
    if (message === null) return;
    const { client, payload } = message;
    if (client.net !== this.setup.name) this.relay(channel, client, body);
    else if (channel === Channel.Push) this.setup.local.push(client.id, message.command, payload);
    else this.setup.local.kick(client.id, utf8Decoder.decode(payload));
  }

  /** Send a push/kick body one step towards the client's net node: down if it is a child, else up. */
  private relay(channel: number, client: ClientRef, body: Uint8Array): void {
    const child = this.setup.root?.child(client.net);
    if (child !== undefined) {
      child.notifyRaw(channel, body);
      return;
    }
    for (const remote of this.setup.remotes) if (remote.currentLink?.notifyRaw(channel, body)) return;
  }

  private onGone(body: Uint8Array): void {
    const message = this.decode(body);
    if (message === null) return;
    const client = message.client.plain();
    // A session's scene is where its commands went; without one, the child that last took them.
    const scene = client.scene;
    const tracked = this.seen.delete(client)?.child;
    this.gone(client, body, scene !== undefined && scene !== this.setup.name && this.setup.root?.child(scene) !== undefined ? scene : tracked);
  }

  /** A client left: tell the child that owned it (`owner`, when already taken from `seen`), the router and the listeners. */
  private gone(client: ClientRef, body: Uint8Array, owner = this.seen.delete(client)?.child): void {
    if (owner != null) this.setup.root?.child(owner)?.notifyRaw(Channel.Gone, body);
    this.router.forget?.(client);
    for (const listener of this.goneListeners) listener(client);
  }

  /** Stop the grace timers (the node is stopping). */
  close(): void {
    for (const timer of this.graceTimers.values()) clearTimeout(timer);
    this.graceTimers.clear();
  }

  private childConnected(child: string, link: Link): void {
    this.candidates.clear();
    const timer = this.graceTimers.get(child);
    if (timer !== undefined) clearTimeout(timer);
    this.graceTimers.delete(child);
    const instance = link.peerHello?.instance;
    const known = this.instances.get(child);
    this.instances.set(child, instance);
    // The same node back within the grace period keeps its clients; a restarted one has none.
    if (known !== instance || instance === undefined) this.netGone(child);
  }

  private childLost(child: string): void {
    this.candidates.clear();
    if (!this.seen.hasNet(child) || this.graceTimers.has(child)) return;
    const grace = this.setup.netGraceMs ?? DEFAULT_NET_GRACE_MS;
    const timer = setTimeout(() => {
      this.graceTimers.delete(child);
      this.netGone(child);
    }, grace);
    timer.unref();
    this.graceTimers.set(child, timer);
  }

  /** A net node is gone for good, and every client it held with it: tell their owners and listeners. */
  private netGone(net: string): void {
    for (const entry of this.seen.deleteNet(net)) this.gone(entry.client, encodeForwarded(this.slab, 0, entry.wire, EMPTY), entry.child);
  }

  private decode(body: Uint8Array): ForwardedMessage | null {
    try {
      return decodeForwarded(body, this.names);
    } catch (err) {
      this.setup.log.warn("malformed forwarding body dropped", { bytes: body.length, error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }

  /** The link to the child that takes this command, or the error the client gets. */
  private routeLink(message: ForwardedMessage): Link | CommandError {
    const root = this.setup.root;
    const { client, command } = message;
    if (root === null) return new CommandError(ErrorCode.UnknownCommand, `unknown command ${command}`);
    if (client.scene !== "") {
      // A session's commands go to its scene, whatever the router would choose.
      const link = client.scene === this.setup.name ? undefined : root.child(client.scene);
      if (link === undefined) return new CommandError(client.scene === this.setup.name ? ErrorCode.UnknownCommand : ErrorCode.Unavailable, client.scene === this.setup.name ? `unknown command ${command}` : `scene ${client.scene} is not connected`);
      this.track(message, client.scene);
      return link;
    }
    const child = this.router(client, command, this.candidatesFor(root, client.net));
    const link = child === null ? undefined : root.child(child);
    if (child === null || link === undefined) return new CommandError(ErrorCode.Unavailable, `no node can take command ${command} right now`);
    this.track(message, child);
    return link;
  }

  /** Remember a client of a net child: where its commands go (null: here), and how to name it later. */
  private track(message: ForwardedMessage, child: string | null): void {
    const client = message.client;
    const entry = this.seen.get(client);
    if (entry === undefined) {
      // A copy: the message is a view into a socket read that must not be kept alive.
      if (this.setup.root?.child(client.net) !== undefined) this.seen.set(client, { child, client: client.plain(), wire: message.wire.slice() });
    } else if (child !== null && entry.child !== child) {
      // A session that moved: keep the header naming its new scene for a later gone notice.
      entry.child = child;
      entry.wire = message.wire.slice();
    }
  }

  /** Never back to the node that holds the client, nor to children that only forward. */
  private candidatesFor(root: RootServer, net: string): readonly string[] {
    let list = this.candidates.get(net);
    if (list === undefined) {
      const targets = this.setup.targets;
      list = root.children().filter((c) => c !== net && (targets === undefined || targets.includes(c)));
      this.candidates.set(net, list);
    }
    return list;
  }

  /** Run a forwarded command's handler here: decode, validate, call, encode; `done` once. */
  private invoke(entry: CommandEntry, message: ForwardedMessage, done: InvokeDone): void {
    // No closures made per call here: under tsx every named one costs a defineProperty.
    let input: unknown;
    try {
      input = entry.codec.decode(message.payload);
    } catch {
      done(new CommandError(ErrorCode.BadPayload, `body is not valid ${entry.codec.name}`));
      return;
    }
    if (entry.validate !== undefined && !entry.validate(input)) {
      done(new CommandError(ErrorCode.BadPayload, `${entry.name}: request failed validation`));
      return;
    }
    let result: unknown;
    try {
      result = entry.handler(input, new RemoteClientContext(message.client.plain(), this));
    } catch (err) {
      done(this.handlerError(entry, message, err));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => this.invoked(entry, message, value, done),
        (err: unknown) => done(this.handlerError(entry, message, err)),
      );
    } else {
      this.invoked(entry, message, result, done);
    }
  }

  private invoked(entry: CommandEntry, message: ForwardedMessage, result: unknown, done: InvokeDone): void {
    let reply: Uint8Array | undefined;
    try {
      reply = result === undefined || result === null ? undefined : entry.codec.encode(result);
    } catch (err) {
      done(this.handlerError(entry, message, err));
      return;
    }
    done(null, reply);
  }

  /** What the client is told when a handler fails; anything but a CommandError stays in this node's log. */
  private handlerError(entry: CommandEntry, message: ForwardedMessage, err: unknown): CommandError {
    if (err instanceof CommandError) return err;
    const client = `${message.client.net}/${message.client.id}`;
    this.setup.log.error("command handler failed", { command: entry.id, name: entry.name, client, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return new CommandError(ErrorCode.HandlerFailed, `${entry.name} failed`);
  }
}

type InvokeDone = (error: CommandError | null, reply?: Uint8Array) => void;

/** A local RPC failure as the client sees it: a lost or missing link means Unavailable. */
function localError(err: RpcError): CommandError {
  const unavailable = err.code === RpcErrorCode.NotConnected || err.code === RpcErrorCode.LinkClosed;
  return new CommandError(unavailable ? ErrorCode.Unavailable : err.code, `forwarding failed: ${err.message}`);
}

/** An Error reply from further up the path, passed on as it is. */
function remoteError(body: Uint8Array): CommandError {
  try {
    const error = decodeControl<ErrorBody>(body, ["code"]);
    return new CommandError(error.code, typeof error.message === "string" ? error.message : "");
  } catch {
    return new CommandError(ErrorCode.HandlerFailed, "forwarding failed: an undecodable error reply");
  }
}

function errorBody(code: number, message: string): Uint8Array {
  return encodeControl({ code, message });
}

class RemoteClientContext implements ClientContext {
  private sessionRef: SessionRef | undefined = undefined;
  constructor(
    private readonly ref: ClientRef,
    private readonly forwarding: Forwarding,
  ) {}
  get id(): number {
    return this.ref.id;
  }
  get remoteAddress(): string {
    return this.ref.remoteAddress;
  }
  get transport(): "tcp" | "ws" {
    return this.ref.transport;
  }
  /** The net node that holds this client. */
  get net(): string {
    return this.ref.net;
  }
  get session(): SessionRef | undefined {
    const s = this.ref.session;
    if (s == null) return undefined;
    this.sessionRef ??= { gateway: this.ref.net, id: this.ref.id, uid: s.uid, scene: this.ref.scene ?? "", data: s.data };
    return this.sessionRef;
  }
  push<T>(message: PushDef<T>, data: T): boolean {
    this.forwarding.pushTo(this.ref, message.id, this.forwarding.encodePush(message, data));
    return true;
  }
  kick(reason: string): void {
    this.forwarding.kickTo(this.ref, reason);
  }
}
