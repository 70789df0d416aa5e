/**
 * One client connection, whatever carries it (TCP or WebSocket, native or Firefly frames).
 * It owns what every connection must bound: frame size (through its decoder), the outbound
 * queue, requests in flight, the handshake deadline and liveness. Commands go up to a
 * ConnectionHandler; nothing here knows about handlers or sessions.
 */
import {
  decodeControl,
  encodeControl,
  ErrorCode,
  KickCode,
  MessageType,
  PROTOCOL_VERSION,
  ProtocolError,
  type ClientHello,
  type FrameDecoder,
  type FrameFormat,
  type Message,
  type ServerHello,
} from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import type { ConnectionLimits } from "./limits.ts";
import type { ByteSocket } from "./socket.ts";
import { Liveness } from "./liveness.ts";

export type TransportKind = "tcp" | "ws";

/** Why a connection ended. */
export interface CloseInfo {
  /** A KickCode, or 0 when the client closed it. */
  code: number;
  reason: string;
}

/** What the layer above (the node) does with a connection's traffic. */
export interface ConnectionHandler {
  /** The connection is ready for commands (after the handshake on native frames). */
  opened(connection: Connection): void;
  request(connection: Connection, message: Message): void;
  notify(connection: Connection, message: Message): void;
  closed(connection: Connection, info: CloseInfo): void;
}

/** Batches writes made in one event-loop turn into one system call per connection. */
export interface WriteBatcher {
  schedule(connection: Connection): void;
}

const EMPTY = new Uint8Array(0);
/** How long a closing connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

type State = "handshake" | "open" | "closing" | "closed";

export interface ConnectionSetup {
  id: number;
  transport: TransportKind;
  format: FrameFormat;
  socket: ByteSocket;
  limits: Readonly<ConnectionLimits>;
  handler: ConnectionHandler;
  batcher: WriteBatcher;
  log: Logger;
  /** Default payload codec, announced in the handshake. */
  codec: string;
  now: number;
}

export class Connection {
  private state: State;
  private readonly decoder: FrameDecoder;
  /** This turn's frames, written when the hub flushes after the turn's I/O (one, or several). */
  private queued: Uint8Array | Uint8Array[] | null = null;
  private queuedBytes = 0;
  private inFlightCount = 0;
  /** Set on every read; the sweeper turns it into a timestamp (keeps Date.now off the hot path). */
  private lastPingAt = 0;
  private closeInfo: CloseInfo | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Free slot for the layer above (the node keeps its per-connection context here). */
  context: unknown = undefined;

  readonly id: number;
  readonly transport: TransportKind;
  readonly format: FrameFormat;
  readonly limits: Readonly<ConnectionLimits>;
  private readonly socket: ByteSocket;
  private readonly handler: ConnectionHandler;
  private readonly batcher: WriteBatcher;
  private readonly log: Logger;
  private readonly codec: string;
  private readonly acceptedAt: number;
  private readonly liveness: Liveness;

  constructor(setup: ConnectionSetup) {
    this.id = setup.id;
    this.transport = setup.transport;
    this.format = setup.format;
    this.limits = setup.limits;
    this.socket = setup.socket;
    this.handler = setup.handler;
    this.batcher = setup.batcher;
    this.log = setup.log;
    this.codec = setup.codec;
    this.decoder = setup.format.createDecoder();
    this.acceptedAt = setup.now;
    this.liveness = new Liveness(setup.now);
    this.state = setup.format.hasControlMessages ? "handshake" : "open";
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress;
  }
  get isOpen(): boolean {
    return this.state === "open";
  }
  get inFlight(): number {
    return this.inFlightCount;
  }
  get bufferedBytes(): number {
    return this.socket.bufferedBytes;
  }

  /** Called by the acceptor once the socket is set up. */
  start(): void {
    if (this.state === "open") this.handler.opened(this);
  }

  /** Bytes read from the socket. */
  receive(chunk: Uint8Array): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.liveness.onRead();
    try {
      this.decoder.push(chunk, this.dispatch);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.close(KickCode.ProtocolError, `protocol error (${err.reason}): ${err.message}`);
    }
  }

  /** A whole-message transport (WebSocket) must not leave part of a frame behind. */
  receiveMessage(data: Uint8Array): void {
    this.receive(data);
    if (this.state !== "closed" && this.state !== "closing" && this.decoder.pendingBytes > 0) {
      this.close(KickCode.ProtocolError, "protocol error (partial-frame): a WebSocket message must hold whole frames");
    }
  }

  private readonly dispatch = (message: Message): void => {
    if (this.state === "closing" || this.state === "closed") return;
    if (this.state === "handshake") {
      this.handshake(message);
      return;
    }
    switch (message.type) {
      case MessageType.Request:
        if (this.inFlightCount >= this.limits.maxInFlight) {
          this.sendError(message, ErrorCode.TooManyInFlight, `more than ${this.limits.maxInFlight} requests in flight`);
          return;
        }
        this.inFlightCount++;
        this.handler.request(this, message);
        return;
      case MessageType.Notify:
        // Notifies count against the same cap: a flood of them must not pile up handlers.
        if (this.inFlightCount >= this.limits.maxInFlight) {
          this.log.debug("notify dropped: too many in flight", { connection: this.id, command: message.command });
          return;
        }
        this.inFlightCount++;
        this.handler.notify(this, message);
        return;
      case MessageType.Heartbeat:
        return; // liveness was recorded in receive()
      default:
        throw new ProtocolError("bad-direction", `a client may not send message type ${message.type}`);
    }
  };

  private handshake(message: Message): void {
    if (message.type !== MessageType.Handshake) {
      throw new ProtocolError("handshake-required", "the first frame must be a handshake");
    }
    const hello = decodeControl<ClientHello>(message.body, ["protocol"]);
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new ProtocolError("bad-handshake", `protocol version ${hello.protocol} is not supported (server speaks ${PROTOCOL_VERSION})`);
    }
    this.state = "open";
    const reply: ServerHello = {
      protocol: PROTOCOL_VERSION,
      heartbeatMs: this.limits.heartbeatMs,
      idleTimeoutMs: this.limits.idleTimeoutMs,
      maxBodyBytes: this.format.maxBody,
      maxInFlight: this.limits.maxInFlight,
      codec: this.codec,
    };
    this.handler.opened(this);
    // opened() may have kicked the connection (server full, shutting down).
    if (this.state === "open") this.send({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl(reply) });
  }

  /** A notify's handler has finished: free its in-flight slot. */
  release(): void {
    this.inFlightCount--;
  }

  /** Answer a request. `body` undefined on a Firefly port sends nothing (Firefly's "falsy return"). */
  respond(request: Message, body: Uint8Array | undefined): void {
    this.inFlightCount--;
    if (body === undefined && !this.format.hasControlMessages) return;
    this.send({ type: MessageType.Response, id: request.id, command: request.command, body: body ?? EMPTY });
  }

  /** Answer a request with an error code and message. */
  respondError(request: Message, code: number, message: string): void {
    this.inFlightCount--;
    this.sendError(request, code, message);
  }

  private sendError(request: Message, code: number, message: string): void {
    this.send({ type: MessageType.Error, id: request.id, command: request.command, body: encodeControl({ code, message }) });
  }

  /** Push an already encoded body under `command`. Returns false if it was not sent. */
  push(command: number, body: Uint8Array): boolean {
    return this.send({ type: MessageType.Push, id: 0, command, body });
  }

  /** Encode and queue one message. Returns false if the connection is not writable or the format cannot carry it. */
  send(message: Message): boolean {
    const frame = this.format.encode(message);
    return frame !== null && this.write(frame);
  }

  /** Queue bytes that are already a whole frame in this connection's format (shared broadcast frames). */
  write(frame: Uint8Array): boolean {
    if (this.state === "closed" || this.state === "closing") return false;
    const queued = this.queued;
    if (queued === null) {
      this.queued = frame;
      this.liveness.onWrite(); // once per turn is enough: it only needs to know "this period"
      this.batcher.schedule(this);
    } else if (Array.isArray(queued)) {
      queued.push(frame);
    } else {
      this.queued = [queued, frame];
    }
    this.queuedBytes += frame.length;
    if (this.socket.bufferedBytes + this.queuedBytes > this.limits.maxOutboundBytes) {
      this.abort(KickCode.SlowConsumer, `outbound queue above ${this.limits.maxOutboundBytes} bytes: client is not reading`);
      return false;
    }
    return true;
  }

  /** Called by the batcher at the end of the event-loop turn. */
  flush(): void {
    const queued = this.queued;
    if (queued === null) return;
    this.queued = null;
    if (Array.isArray(queued)) this.socket.writeMany(queued, this.queuedBytes);
    else this.socket.write(queued);
    this.queuedBytes = 0;
  }

  /** Send a kick (where the format has one), flush, and close. */
  close(code: number, reason: string): void {
    if (this.state === "closing" || this.state === "closed") return;
    if (this.format.hasControlMessages) {
      this.send({ type: MessageType.Kick, id: 0, command: 0, body: encodeControl({ code, reason }) });
    }
    this.beginClose(code, reason);
    this.flush();
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  /** Close at once, dropping whatever is queued (slow consumers, stop deadline). */
  abort(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.beginClose(code, reason);
    this.queued = null;
    this.queuedBytes = 0;
    this.socket.destroy();
  }

  private beginClose(code: number, reason: string): void {
    if (this.closeInfo === null) {
      this.closeInfo = { code, reason };
      const level = code === KickCode.ShuttingDown || code === KickCode.Kicked ? "debug" : "info";
      this.log[level]("closing connection", { connection: this.id, remote: this.remoteAddress, code, reason });
    }
    this.state = "closing";
  }

  /** Called by the acceptor when the socket has closed, whoever closed it. */
  socketClosed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.handler.closed(this, this.closeInfo ?? { code: 0, reason: "closed by client" });
  }

  /** Liveness check, run by the hub's sweeper. */
  tick(now: number): void {
    this.liveness.sample(now);
    if (this.state === "handshake") {
      // Counted from accept, so trickling bytes cannot keep an unverified connection alive.
      if (now - this.acceptedAt >= this.limits.handshakeTimeoutMs) this.close(KickCode.HandshakeTimeout, "no handshake in time");
      return;
    }
    const silentFor = this.liveness.silentFor(now);
    if (this.state !== "open") return;
    if (silentFor >= this.limits.idleTimeoutMs) {
      this.close(KickCode.IdleTimeout, `nothing heard for ${silentFor} ms`);
    } else if (
      this.format.hasControlMessages &&
      // Ping a silent client; also a busy one we have sent nothing to (a client that only
      // sends notifies), because clients judge the link by hearing from the server.
      (silentFor >= this.limits.heartbeatMs || this.liveness.quietFor(now) >= this.limits.heartbeatMs) &&
      now - this.lastPingAt >= this.limits.heartbeatMs
    ) {
      this.lastPingAt = now;
      this.send({ type: MessageType.Heartbeat, id: 0, command: 0, body: EMPTY });
    }
  }
}
