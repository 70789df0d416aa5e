/**
 * One inter-node link: a TCP socket between two nodes speaking native frames, symmetric once
 * the handshake is done — either end calls, notifies and serves. The link owns every bound a
 * link needs: frame size (its decoder), pending calls, handlers in flight, the outbound queue,
 * the handshake deadline and liveness. RootServer and RootClient only decide which links exist.
 */
import { Liveness } from "../transport/liveness.ts";
import type { Socket } from "node:net";
import { WriteBatch } from "../transport/batch.ts";
import {
  encodeControl,
  checkEncodable,
  NATIVE_HEADER_SIZE,
  writeNative,
  KickCode,
  MessageType,
  nativeFormat,
  PROTOCOL_VERSION,
  ProtocolError,
  U32_MAX,
  type FrameDecoder,
  type Message,
} from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import { checkTimeout, TimedCaller, type Caller, type CallTarget } from "./caller.ts";
import type { RpcCounters } from "./counters.ts";
import { errorText, RpcError, RpcErrorCode } from "./errors.ts";
import type { ResolvedLinkOptions } from "./options.ts";
import { RawCall, ServiceCall, type RawDone } from "./calls.ts";
import { PendingCalls, type PendingCall, type ReplyType } from "./pending.ts";
import { Responder, type ResponderHost } from "./serve.ts";
import type { ServiceContext, ServiceDef, ServiceRegistry } from "./service.ts";
import { decodeHello, decodeKick, encodeCall, encodeHello, LINK_VERSION, type LinkHello } from "./wire.ts";

/** "connect": this end opened the socket and speaks first; "accept": it answers. */
export type LinkRole = "connect" | "accept";
export type LinkState = "handshake" | "open" | "draining" | "closed";

/** Why a link ended. */
export interface LinkCloseInfo {
  /** A KickCode (sent or received), or 0 when the socket closed without one. */
  code: number;
  reason: string;
  /** True when the peer ended it (or vanished), false when this end did. */
  byPeer: boolean;
}

/** A refusal of the peer's handshake: it is sent a Kick with this code and reason. */
export interface Refusal {
  code: number;
  reason: string;
}

export interface LinkEvents {
  /** Accept or refuse the peer's hello (after the version and cluster checks). */
  admit?(hello: LinkHello, link: Link): Refusal | undefined;
  /** The handshake is done; calls can flow. */
  opened(link: Link): void;
  /** The link is over (called once, also when it never opened). Pending calls have been rejected. */
  closed(link: Link, info: LinkCloseInfo): void;
}

export interface LinkSetup {
  socket: Socket;
  role: LinkRole;
  /** This node's name and cluster, sent in the hello. */
  node: string;
  cluster: string | undefined;
  /** Sent in the hello when set (root clients set theirs; see LinkHello.instance). */
  instance?: string;
  options: ResolvedLinkOptions;
  services: ServiceRegistry;
  counters: RpcCounters;
  log: Logger;
  events: LinkEvents;
  /** How logs name the far end before the socket is connected (default: the socket's address). */
  address?: string;
}

const EMPTY = new Uint8Array(0);
/** Encoder bound: sizes are checked against the peer's limit before encoding. */
const MAX_FRAME_BODY = U32_MAX - 10;
/** Largest hello body an accepting end reads (a real one is a few hundred bytes). */
const MAX_HELLO_BODY = 64 * 1024;
/** How long a link that said goodbye may take to flush before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export class Link implements Caller, CallTarget {
  private stateValue: LinkState = "handshake";
  private readonly socket: Socket;
  /** The hello decoder first (accepting end), then `frameDecoder`. */
  private decoder: FrameDecoder;
  private readonly frameDecoder: FrameDecoder;
  private readonly pending: PendingCalls;
  private readonly options: ResolvedLinkOptions;
  private readonly counters: RpcCounters;
  private readonly events: LinkEvents;
  private log: Logger;
  private hello: LinkHello | null = null;
  private readonly responder: Responder;
  /** Largest body the peer accepts (from its hello). */
  private peerMaxBody = 0;
  /** Silence from the peer after which the link is dropped. */
  private idleLimitMs = 0;
  // Liveness: reads and writes only set flags; the tick turns them into timestamps, which keeps
  // Date.now() off the per-frame path (as the client Connection does).
  private readonly liveness = new Liveness(Date.now());
  /** This turn's frames, written to the socket in one piece after the turn's I/O. */
  private readonly out: WriteBatch;
  private flushScheduled = false;
  private handshakeTimer: ReturnType<typeof setTimeout> | null = null;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private drainTimer: ReturnType<typeof setTimeout> | null = null;
  private drainKick: { code: number; reason: string } = { code: KickCode.ShuttingDown, reason: "" };
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  private socketError: string | null = null;
  private closeInfoValue: LinkCloseInfo | null = null;
  private readonly socketClosed: Promise<void>;

  readonly role: LinkRole;
  readonly node: string;
  readonly remoteAddress: string;

  constructor(private readonly setup: LinkSetup) {
    this.socket = setup.socket;
    this.out = new WriteBatch((bytes) => {
      this.counters.flushes++;
      this.socket.write(bytes);
    });
    this.role = setup.role;
    this.node = setup.node;
    this.options = setup.options;
    this.counters = setup.counters;
    this.events = setup.events;
    this.pending = new PendingCalls(setup.options.maxPending, this.expired);
    this.responder = new Responder(this.responderHost(), setup.services, setup.counters, setup.options.maxInFlight);
    this.frameDecoder = nativeFormat({ maxBody: setup.options.maxBodyBytes }).createDecoder();
    // An accepting end reads the hello of an unknown peer with a small limit, so sockets that
    // never finish a handshake cannot make it buffer full-size frames.
    this.decoder = this.role === "accept" ? nativeFormat({ maxBody: MAX_HELLO_BODY }).createDecoder() : this.frameDecoder;
    this.remoteAddress = setup.address ?? `${this.socket.remoteAddress ?? "?"}:${this.socket.remotePort ?? "?"}`;
    this.log = setup.log.child({ remote: this.remoteAddress });
    this.socket.setNoDelay(true);
    this.socketClosed = new Promise<void>((resolve) => {
      this.socket.once("close", () => {
        this.socketGone();
        resolve();
      });
    });
    this.socket.on("data", (chunk: Buffer) => this.receive(chunk));
    this.socket.on("error", (err) => {
      this.socketError = err.message;
    });
    // Counted from the start, covering TCP connect too: trickling bytes cannot keep it alive.
    this.handshakeTimer = setTimeout(
      () => this.kick(KickCode.HandshakeTimeout, `no handshake within ${this.options.handshakeTimeoutMs} ms`),
      this.options.handshakeTimeoutMs,
    );
    if (this.role === "connect") this.sendHello();
  }

  get state(): LinkState {
    return this.stateValue;
  }
  get isOpen(): boolean {
    return this.stateValue === "open";
  }
  /** The peer's node name ("" before the handshake). */
  get peer(): string {
    return this.hello?.node ?? "";
  }
  /** The peer's hello (null before the handshake). */
  get peerHello(): LinkHello | null {
    return this.hello;
  }
  /** Calls waiting for replies. */
  get pendingCalls(): number {
    return this.pending.size;
  }
  /** Handlers running for the peer. */
  get inFlight(): number {
    return this.responder.inFlight;
  }
  /** Why the link ended (null while it lasts). */
  get closeInfo(): LinkCloseInfo | null {
    return this.closeInfoValue;
  }

  // ---- calling ----

  call<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R> {
    return this.callTimed(def, args, undefined) as Promise<R>;
  }

  withTimeout(timeoutMs: number): Caller {
    return new TimedCaller(this, timeoutMs);
  }

  callTimed(def: ServiceDef<unknown[], unknown>, args: unknown[], timeoutMs: number | undefined): Promise<unknown> {
    this.counters.calls++;
    const refused = this.refusal(def.name);
    if (refused !== null) return this.failed(refused);
    const timeout = timeoutMs === undefined ? this.options.timeoutMs : checkTimeout(timeoutMs);
    const body = this.encodeArgs(def.name, args);
    if (body instanceof RpcError) return this.failed(body);
    return new Promise<unknown>((resolve, reject) => {
      this.request(new ServiceCall(def.name, resolve, reject, this.counters), 0, body, timeout);
    });
  }

  notify<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean {
    if (this.stateValue !== "open") return false;
    const body = this.encodeArgs(def.name, args);
    if (body instanceof RpcError) {
      this.log.warn("notify not sent", { service: def.name, peer: this.peer, error: body.message });
      return false;
    }
    return this.notifyRaw(0, body);
  }

  /**
   * A call on a raw channel (docs/protocol.md, "Channels"): `body` goes out as it is, and
   * `done` is called exactly once — with the peer's Response or Error frame body, or with an
   * RpcError when no reply can come (not open, too many pending, too large, timeout, link
   * closed). It may be called before callRaw returns. No promise, no msgpack: the forwarding
   * path uses this to pass bytes through a gate untouched.
   */
  callRaw(channel: number, label: string, body: Uint8Array, timeoutMs: number | undefined, done: RawDone): void {
    this.counters.calls++;
    let refused = this.refusal(label);
    if (refused === null && body.length > this.peerMaxBody) {
      refused = new RpcError(RpcErrorCode.BadPayload, `${label}: ${body.length} bytes, above ${this.peer}'s limit of ${this.peerMaxBody}`);
    }
    if (refused !== null) {
      this.counters.errors++;
      done(refused, MessageType.Error, EMPTY);
      return;
    }
    this.request(new RawCall(label, done), channel, body, timeoutMs === undefined ? this.options.timeoutMs : checkTimeout(timeoutMs));
  }

  /** A notify on a raw channel (0 is the service channel). False if it could not be sent. */
  notifyRaw(channel: number, body: Uint8Array): boolean {
    if (this.stateValue !== "open" || body.length > this.peerMaxBody) return false;
    if (!this.send(MessageType.Notify, 0, channel, body)) return false;
    this.counters.notifies++;
    return true;
  }

  /** Answer a raw-channel request handed to a ChannelHandler (exactly once per request). */
  replyRaw(id: number, type: ReplyType, body: Uint8Array): void {
    this.responder.channelReply(id, type, body);
  }

  /** Why a call cannot be made now, or null. */
  private refusal(label: string): RpcError | null {
    if (this.stateValue !== "open") {
      return new RpcError(RpcErrorCode.NotConnected, `${label}: the link to ${this.peer || this.remoteAddress} is not open (${this.stateValue})`);
    }
    if (this.pending.full) {
      return new RpcError(RpcErrorCode.TooManyPending, `${label}: ${this.pending.size} calls to ${this.peer} are already waiting for replies`);
    }
    return null;
  }

  private request(call: PendingCall, command: number, body: Uint8Array, timeoutMs: number): void {
    const id = this.pending.add(call, timeoutMs);
    // May drop the link (slow consumer), which fails this call with LinkClosed at once.
    this.send(MessageType.Request, id, command, body);
  }

  private readonly expired = (call: PendingCall, timeoutMs: number): void => {
    this.counters.timeouts++;
    this.counters.errors++;
    call.fail(new RpcError(RpcErrorCode.Timeout, `${call.service}: no reply from ${this.peer} within ${timeoutMs} ms`));
  };

  private encodeArgs(name: string, args: unknown[]): Uint8Array | RpcError {
    let body: Uint8Array;
    try {
      body = encodeCall(name, args);
    } catch (err) {
      return new RpcError(RpcErrorCode.BadPayload, `${name}: arguments cannot be encoded as msgpack: ${errorText(err)}`);
    }
    if (body.length > this.peerMaxBody) {
      return new RpcError(RpcErrorCode.BadPayload, `${name}: arguments take ${body.length} bytes, above ${this.peer}'s limit of ${this.peerMaxBody}`);
    }
    return body;
  }

  private failed(err: RpcError): Promise<never> {
    this.counters.errors++;
    return Promise.reject(err);
  }

  private settle(message: Message): void {
    const call = this.pending.take(message.id);
    if (call === undefined) {
      this.counters.late++; // its call timed out: the reply is dropped, nothing else happens
      return;
    }
    if (message.type === MessageType.Error) this.counters.errors++;
    call.settle(message.type as ReplyType, message.body);
  }

  /** The link as its responder sees it (read live: the peer and log change at the handshake). */
  private responderHost(): ResponderHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read the link's current state
    const link = this;
    const context: ServiceContext = {
      get peer() {
        return link.peer;
      },
      link,
    };
    return {
      node: this.node,
      link,
      get peer() {
        return link.peer;
      },
      get log() {
        return link.log;
      },
      context,
      get peerMaxBody() {
        return link.peerMaxBody;
      },
      get accepting() {
        return link.stateValue === "open";
      },
      sendReply: (type, id, body) => void this.send(type, id, 0, body),
      idle: () => {
        if (this.stateValue === "draining") this.kick(this.drainKick.code, this.drainKick.reason);
      },
    };
  }

  // ---- inbound ----

  private receive(chunk: Uint8Array): void {
    if (this.stateValue === "closed") return;
    this.counters.reads++;
    this.liveness.onRead();
    try {
      this.decoder.push(chunk, this.dispatch);
      if (this.decoder !== this.frameDecoder && this.stateValue === "open") {
        // The connecting end waits for the answer to its hello, so no frame can be half-read here.
        if (this.decoder.pendingBytes > 0) throw new ProtocolError("bad-handshake", "frames were sent after the hello before its answer");
        this.decoder = this.frameDecoder;
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.kick(KickCode.ProtocolError, `protocol error (${err.reason}): ${err.message}`);
    }
  }

  private readonly dispatch = (message: Message): void => {
    if (this.stateValue === "closed") return;
    this.counters.framesIn++;
    if (message.type === MessageType.Kick) {
      const kick = decodeKick(message.body);
      this.finish({ code: kick.code, reason: `the peer closed the link: ${kick.reason}`, byPeer: true }, "end");
      return;
    }
    if (this.stateValue === "handshake") {
      this.handshake(message);
      return;
    }
    switch (message.type) {
      case MessageType.Request:
        if (message.command === 0) this.responder.request(message.id, message.body);
        else this.responder.channel(message.id, message.command, message.body);
        return;
      case MessageType.Response:
      case MessageType.Error:
        this.settle(message);
        return;
      case MessageType.Notify:
        if (message.command === 0) this.responder.notify(message.body);
        else this.responder.channel(0, message.command, message.body);
        return;
      case MessageType.Heartbeat:
        return; // liveness was recorded in receive()
      default:
        throw new ProtocolError("bad-direction", `message type ${message.type} is not used on inter-node links`);
    }
  };

  private handshake(message: Message): void {
    if (message.type !== MessageType.Handshake) {
      throw new ProtocolError("handshake-required", "the first frame on a link must be a handshake");
    }
    const hello = decodeHello(message.body);
    // Both ends apply the same rule (equal, or both absent), so the accepting end refuses a
    // mismatch before it opens and the connecting end never has to take back an open link.
    const cluster = this.setup.cluster;
    if (hello.cluster !== cluster) {
      const name = (c: string | undefined): string => (c === undefined ? "no cluster" : `cluster "${c}"`);
      this.kick(KickCode.ProtocolError, `cluster mismatch: this node is in ${name(cluster)}, the peer in ${name(hello.cluster)}`);
      return;
    }
    const refusal = this.events.admit?.(hello, this);
    if (refusal !== undefined) {
      this.kick(refusal.code, refusal.reason);
      return;
    }
    this.hello = hello;
    this.peerMaxBody = Math.min(hello.maxBodyBytes, MAX_FRAME_BODY);
    // The peer may stay silent for one of its heartbeat periods; never drop it sooner than twice that.
    this.idleLimitMs = Math.max(this.options.idleTimeoutMs, 2 * hello.heartbeatMs);
    this.log = this.setup.log.child({ peer: hello.node, remote: this.remoteAddress });
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    if (this.role === "accept") this.sendHello();
    this.stateValue = "open";
    this.startTicking();
    this.events.opened(this);
  }

  private sendHello(): void {
    const hello: LinkHello = {
      protocol: PROTOCOL_VERSION,
      link: LINK_VERSION,
      node: this.node,
      ...(this.setup.cluster === undefined ? {} : { cluster: this.setup.cluster }),
      ...(this.setup.instance === undefined ? {} : { instance: this.setup.instance }),
      heartbeatMs: this.options.heartbeatMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
      maxBodyBytes: this.options.maxBodyBytes,
      maxInFlight: this.options.maxInFlight,
    };
    this.send(MessageType.Handshake, 0, 0, encodeHello(hello));
  }

  // ---- liveness ----

  private startTicking(): void {
    const now = Date.now();
    this.liveness.reset(now);
    // One timer per link is fine: a node has a handful of links, unlike client connections.
    const period = Math.max(10, Math.min(this.options.heartbeatMs, this.idleLimitMs) / 4);
    this.tickTimer = setInterval(() => this.tick(Date.now()), period);
    this.tickTimer.unref(); // the socket keeps the process alive, not this timer
  }

  private tick(now: number): void {
    this.liveness.sample(now);
    const silentFor = this.liveness.silentFor(now);
    if (silentFor >= this.idleLimitMs) {
      this.finish({ code: KickCode.IdleTimeout, reason: `nothing heard from the peer for ${silentFor} ms`, byPeer: true }, "destroy");
      return;
    }
    if (this.liveness.quietFor(now) >= this.options.heartbeatMs) {
      this.send(MessageType.Heartbeat, 0, 0, EMPTY);
    }
  }

  // ---- outbound ----

  /** Build a frame at the end of this turn's batch (fields, not a Message: nothing allocated per frame). */
  private send(type: MessageType, id: number, command: number, body: Uint8Array): boolean {
    if (this.stateValue === "closed") return false;
    checkEncodable(body.length, MAX_FRAME_BODY);
    const at = this.out.reserve(NATIVE_HEADER_SIZE + body.length);
    writeNative(this.out.bytes, at, type, id, command, body);
    this.counters.framesOut++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    this.liveness.onWrite();
    if (this.socket.writableLength + this.out.pendingBytes > this.options.maxOutboundBytes) {
      this.finish(
        { code: KickCode.SlowConsumer, reason: `outbound queue above ${this.options.maxOutboundBytes} bytes: the peer is not reading`, byPeer: false },
        "destroy",
      );
      return false;
    }
    return true;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.out.flush();
  };

  // ---- closing ----

  /**
   * Close from this end: the peer gets a Kick with `code` (default ShuttingDown) and `reason`.
   * With `deadlineMs`, handlers already running for the peer may finish first (new calls from
   * it are answered ShuttingDown meanwhile). Resolves when the socket is closed.
   */
  close(options: { deadlineMs?: number; reason?: string; code?: number } = {}): Promise<void> {
    const reason = options.reason ?? "closed by this node";
    const code = options.code ?? KickCode.ShuttingDown;
    if (this.stateValue === "handshake") {
      this.kick(code, reason);
    } else if (this.stateValue === "open") {
      const deadlineMs = options.deadlineMs ?? 0;
      if (this.responder.inFlight === 0 || deadlineMs <= 0) {
        this.kick(code, reason);
      } else {
        this.stateValue = "draining";
        this.drainKick = { code, reason };
        this.drainTimer = setTimeout(() => this.kick(code, reason), deadlineMs);
      }
    }
    return this.socketClosed;
  }

  /** Drop the socket at once, without a Kick. */
  destroy(reason = "destroyed by this node"): void {
    this.finish({ code: 0, reason, byPeer: false }, "destroy");
  }

  /** Tell the peer why (a Kick frame), then close. */
  private kick(code: number, reason: string): void {
    if (this.stateValue === "closed") return;
    this.send(MessageType.Kick, 0, 0, encodeControl({ code, reason }));
    this.finish({ code, reason, byPeer: false }, "end");
  }

  /** The one way a link ends: reject what waits, stop timers, close the socket, tell the owner. */
  private finish(info: LinkCloseInfo, mode: "end" | "destroy"): void {
    if (this.stateValue === "closed") {
      if (mode === "destroy") this.socket.destroy();
      return;
    }
    const wasOpen = this.hello !== null;
    this.stateValue = "closed";
    this.closeInfoValue = info;
    for (const timer of [this.handshakeTimer, this.drainTimer]) if (timer) clearTimeout(timer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.handshakeTimer = this.drainTimer = this.tickTimer = null;
    // A failed connect attempt is the owner's to report; a goodbye is routine; anything else is worth a look.
    const level = info.code === 0 && !wasOpen ? "debug" : info.code === KickCode.ShuttingDown ? "info" : "warn";
    this.log[level](wasOpen ? "link closed" : "link closed before its handshake", {
      code: info.code,
      reason: info.reason,
      by: info.byPeer ? "peer" : "self",
    });
    const pending = this.pending.takeAll();
    if (mode === "end") {
      this.out.flush();
      this.socket.end();
      this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      this.graceTimer.unref();
    } else {
      this.out.discard();
      this.socket.destroy();
    }
    for (const call of pending) {
      this.counters.errors++;
      call.fail(new RpcError(RpcErrorCode.LinkClosed, `${call.service}: the link to ${this.peer} closed before the reply (${info.reason})`));
    }
    this.events.closed(this, info);
  }

  private socketGone(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    const reason = this.socketError ? `socket error: ${this.socketError}` : "the peer closed the socket";
    this.finish({ code: 0, reason, byPeer: true }, "destroy");
  }
}
