/**
 * The glowfly client: native protocol over any ClientTransport. Requests are correlated by id
 * and time out; pushes and kicks go to listeners; a dropped connection is re-established
 * with exponential backoff unless the server said not to (a non-retryable kick).
 * Browser-safe: imports nothing from Node.
 */
import {
  CommandError,
  codecByName,
  decodeControl,
  encodeControl,
  ErrorCode,
  jsonCodec,
  MessageType,
  nativeFormat,
  PROTOCOL_VERSION,
  ProtocolError,
  RETRYABLE_KICKS,
  type CodecName,
  type CommandDef,
  type ErrorBody,
  type FrameDecoder,
  type FrameFormat,
  type KickBody,
  type Message,
  type PayloadCodec,
  type PushDef,
  type ServerHello,
  type SessionReply,
  SystemCommand,
} from "../protocol/index.ts";
import type { ClientTransport, TransportFactory } from "./transport.ts";

export interface ReconnectOptions {
  /** Delay before the first attempt (default 250 ms). */
  initialDelayMs?: number;
  /** Upper bound of the delay (default 10 s). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Random spread of each delay, 0..1 (default 0.2), so clients do not return in lockstep. */
  jitter?: number;
  /** Attempts before giving up and closing (default unlimited). */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** Payload codec for commands that do not name one; must match the server's (default "json"). */
  codec?: CodecName;
  /** Default request timeout (default 10 s). */
  requestTimeoutMs?: number;
  /** Deadline for the connection and the handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** Requests that may wait for replies at once (default 1024). */
  maxPending?: number;
  /** Largest frame body accepted from the server (default 16 MiB). */
  maxBodyBytes?: number;
  /** Reconnect after a dropped connection; `false` turns it off (default on). */
  reconnect?: ReconnectOptions | false;
  /** Sent in the handshake, for the server's logs. */
  clientName?: string;
  /** Receives errors thrown by push listeners (default console.error). */
  onListenerError?: (err: unknown) => void;
  /**
   * For a session gateway (docs/sessions.md): the credentials to log in with. The client logs in
   * after every handshake; after a dropped connection it first resumes its session (and gets
   * the pushes it missed), and logs in afresh with these only if the resume is refused.
   */
  login?: () => unknown;
}

/** How a session was established on the current connection. */
export type SessionHow = "login" | "resume";

export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
  codec: PayloadCodec;
}

interface PushListener {
  codec: PayloadCodec;
  validate: ((value: unknown) => boolean) | undefined;
  listeners: Set<(message: unknown) => void>;
}

const U32_LIMIT = 0x1_0000_0000;

export class Client {
  private transport: ClientTransport | null = null;
  private format: FrameFormat;
  private decoder: FrameDecoder;
  private stateValue: ClientState = "connecting";
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly pushes = new Map<number, PushListener>();
  private readonly kickListeners = new Set<(kick: KickBody) => void>();
  private readonly stateListeners = new Set<(state: ClientState) => void>();
  private helloWaiter: ((hello: ServerHello) => void) | null = null;
  private hello: ServerHello | null = null;
  private lastKick: KickBody | null = null;
  private lastHeardAt = 0;
  private livenessTimer: ReturnType<typeof setInterval> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly codec: PayloadCodec;
  private readonly options: Required<Omit<ClientOptions, "reconnect" | "clientName" | "onListenerError" | "login">>;
  private sessionInfo: SessionReply | null = null;
  /** Sequence number of the last session push received (what a resume asks to continue from). */
  private lastSeq = 0;
  private readonly sessionListeners = new Set<(session: SessionReply, how: SessionHow) => void>();
  private readonly reconnect: Required<ReconnectOptions> | null;

  constructor(
    readonly url: URL,
    private readonly openTransport: TransportFactory,
    private readonly clientOptions: ClientOptions = {},
  ) {
    this.options = {
      codec: clientOptions.codec ?? "json",
      requestTimeoutMs: clientOptions.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: clientOptions.connectTimeoutMs ?? 10_000,
      maxPending: clientOptions.maxPending ?? 1024,
      maxBodyBytes: clientOptions.maxBodyBytes ?? 16 * 1024 * 1024,
    };
    this.codec = codecByName(this.options.codec);
    this.format = nativeFormat({ maxBody: this.options.maxBodyBytes });
    this.decoder = this.format.createDecoder();
    const r = clientOptions.reconnect;
    this.reconnect =
      r === false
        ? null
        : {
            initialDelayMs: r?.initialDelayMs ?? 250,
            maxDelayMs: r?.maxDelayMs ?? 10_000,
            factor: r?.factor ?? 2,
            jitter: r?.jitter ?? 0.2,
            maxAttempts: r?.maxAttempts ?? Number.POSITIVE_INFINITY,
          };
  }

  get state(): ClientState {
    return this.stateValue;
  }
  /** What the server announced in its handshake (null before the first). */
  get serverHello(): ServerHello | null {
    return this.hello;
  }
  /** The session (after a login or resume on a session gateway), or null. */
  get session(): SessionReply | null {
    return this.sessionInfo;
  }
  /** Requests waiting for replies. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Open the first connection. Rejects if the server cannot be reached or refuses the handshake. */
  async open(): Promise<void> {
    await this.attempt();
    this.setState("open");
  }

  /** Send a request and wait for its reply. Rejects with CommandError (server code, Timeout or ConnectionClosed). */
  request<Req, Res>(command: CommandDef<Req, Res>, data: Req, options: { timeoutMs?: number } = {}): Promise<Res> {
    const transport = this.transport;
    if (transport === null || this.stateValue !== "open") {
      return Promise.reject(new CommandError(ErrorCode.ConnectionClosed, `not connected (${this.stateValue})`));
    }
    if (this.pending.size >= this.options.maxPending) {
      return Promise.reject(new CommandError(ErrorCode.TooManyPending, `${this.pending.size} requests are already waiting`));
    }
    const codec = command.codec ? codecByName(command.codec) : this.codec;
    let body: Uint8Array;
    try {
      body = codec.encode(data);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const id = this.allocateId();
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CommandError(ErrorCode.Timeout, `${command.name} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, codec });
      this.sendMessage(transport, { type: MessageType.Request, id, command: command.id, body });
    });
  }

  /** Send a command without waiting for (or getting) a reply. Returns false if not connected. */
  notify<Req, Res>(command: CommandDef<Req, Res>, data: Req): boolean {
    if (this.transport === null || this.stateValue !== "open") return false;
    const codec = command.codec ? codecByName(command.codec) : this.codec;
    this.sendMessage(this.transport, { type: MessageType.Notify, id: 0, command: command.id, body: codec.encode(data) });
    return true;
  }

  /** Listen for a declared push. Returns a function that removes the listener. */
  on<T>(message: PushDef<T>, listener: (data: T) => void): () => void {
    let entry = this.pushes.get(message.id);
    if (entry === undefined) {
      entry = { codec: message.codec ? codecByName(message.codec) : this.codec, validate: message.validate, listeners: new Set() };
      this.pushes.set(message.id, entry);
    }
    const set = entry.listeners;
    const wrapped = listener as (data: unknown) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Listen for kicks (the server's reason for closing this connection). */
  onKick(listener: (kick: KickBody) => void): () => void {
    this.kickListeners.add(listener);
    return () => this.kickListeners.delete(listener);
  }

  /** Listen for sessions established: a login (a new session), or a resume (the same session, missed pushes replayed). */
  onSession(listener: (session: SessionReply, how: SessionHow) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  /** End the session at the gateway (no resume) and close. */
  async logout(): Promise<void> {
    const transport = this.transport;
    if (transport !== null && this.sessionInfo !== null) await this.systemRequest(transport, SystemCommand.Logout, {});
    this.sessionInfo = null;
    this.close();
  }

  /** Listen for state changes: open, reconnecting, closed. */
  onStateChange(listener: (state: ClientState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Close for good: no reconnect; waiting requests reject with ConnectionClosed. */
  close(): void {
    if (this.stateValue === "closed") return;
    this.setState("closed");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.dropTransport("closed by the client");
  }

  // ---- connection lifecycle ----

  private async attempt(): Promise<void> {
    this.decoder = this.format.createDecoder();
    this.lastKick = null;
    let transport: ClientTransport | null = null;
    transport = await this.openTransport(
      this.url,
      { data: (chunk) => this.receive(chunk), closed: (reason) => this.transportClosed(transport, reason) },
      this.options.connectTimeoutMs,
    );
    this.transport = transport;
    const helloArrived = new Promise<ServerHello>((resolve) => (this.helloWaiter = resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no handshake from ${this.url.href} within ${this.options.connectTimeoutMs} ms`)), this.options.connectTimeoutMs);
    });
    const closedEarly = new Promise<never>((_, reject) => (this.earlyClose = reject));
    this.sendMessage(transport, {
      type: MessageType.Handshake,
      id: 0,
      command: 0,
      body: encodeControl({ protocol: PROTOCOL_VERSION, client: this.clientOptions.clientName ?? "glowfly-client" }),
    });
    try {
      this.hello = await Promise.race([helloArrived, deadline, closedEarly]);
    } catch (err) {
      transport.close();
      this.transport = null;
      throw err;
    } finally {
      clearTimeout(timer);
      this.helloWaiter = null;
      this.earlyClose = null;
    }
    this.startLiveness(this.hello.idleTimeoutMs);
    if (this.clientOptions.login !== undefined) {
      try {
        await this.establishSession(transport, this.clientOptions.login);
      } catch (err) {
        this.dropTransport("session refused");
        throw err;
      }
    }
  }

  /** Resume the session this client had, else log in afresh. */
  private async establishSession(transport: ClientTransport, credentials: () => unknown): Promise<void> {
    const previous = this.sessionInfo;
    if (previous !== null && previous.resumeWindowMs > 0) {
      try {
        const reply = await this.systemRequest<SessionReply>(transport, SystemCommand.Resume, { token: previous.token, lastSeq: this.lastSeq });
        this.sessionEstablished(reply, "resume");
        return;
      } catch (err) {
        if (!(err instanceof CommandError) || err.code !== ErrorCode.ResumeRefused) throw err;
      }
    }
    const body = { credentials: await credentials() };
    // A new session numbers its pushes from 1; its scene may push before the reply arrives.
    this.lastSeq = 0;
    const reply = await this.systemRequest<SessionReply>(transport, SystemCommand.Login, body);
    this.sessionEstablished(reply, "login");
  }

  private sessionEstablished(reply: SessionReply, how: SessionHow): void {
    this.sessionInfo = reply;
    for (const listener of this.sessionListeners) this.callListener((r: SessionReply) => listener(r, how), reply);
  }

  /** A request with a JSON body that may be sent before the client is open (session commands). */
  private systemRequest<T>(transport: ClientTransport, command: number, data: unknown): Promise<T> {
    const id = this.allocateId();
    const timeoutMs = this.options.requestTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CommandError(ErrorCode.Timeout, `session command timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve, reject, timer, codec: jsonCodec });
      this.sendMessage(transport, { type: MessageType.Request, id, command, body: jsonCodec.encode(data) });
    });
  }

  /** Rejects the handshake wait if the pipe closes first (e.g. a kick for a full server). */
  private earlyClose: ((err: Error) => void) | null = null;

  private transportClosed(transport: ClientTransport | null, reason: string): void {
    if (transport !== this.transport && this.transport !== null) return; // an older pipe
    this.transport = null;
    this.stopLiveness();
    this.failPending(`connection lost: ${reason}`);
    const kick = this.lastKick;
    if (this.earlyClose) {
      this.earlyClose(new Error(kick ? `kicked during handshake: ${kick.reason}` : `closed during handshake: ${reason}`));
      return;
    }
    if (this.stateValue === "closed") return;
    if (this.reconnect === null || (kick !== null && !RETRYABLE_KICKS.has(kick.code))) {
      this.setState("closed");
      return;
    }
    this.setState("reconnecting");
    this.scheduleReconnect(1);
  }

  private scheduleReconnect(attemptNo: number): void {
    const r = this.reconnect;
    if (r === null || this.stateValue !== "reconnecting") return;
    if (attemptNo > r.maxAttempts) {
      this.setState("closed");
      return;
    }
    const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** (attemptNo - 1));
    const delay = base * (1 + r.jitter * (Math.random() * 2 - 1));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.attempt().then(
        () => {
          if (this.stateValue === "reconnecting") this.setState("open");
          else this.dropTransport("closed by the client");
        },
        (err: unknown) => {
          // Credentials the gateway refuses will be refused again: stop rather than hammer it.
          if (err instanceof CommandError && err.code === ErrorCode.LoginRefused) this.setState("closed");
          else this.scheduleReconnect(attemptNo + 1);
        },
      );
    }, delay);
  }

  private dropTransport(reason: string): void {
    const transport = this.transport;
    this.transport = null;
    this.stopLiveness();
    this.failPending(reason);
    transport?.close();
  }

  private failPending(reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new CommandError(ErrorCode.ConnectionClosed, reason));
    }
  }

  /** The server promised to be heard from within its idle timeout (it sends heartbeats); silence means a dead link. */
  private startLiveness(idleTimeoutMs: number): void {
    this.stopLiveness();
    this.lastHeardAt = Date.now();
    this.livenessTimer = setInterval(() => {
      if (Date.now() - this.lastHeardAt <= idleTimeoutMs) return;
      // A dead peer never answers a graceful close, so the pipe is torn down at once.
      const transport = this.transport;
      if (transport?.abort) transport.abort();
      else transport?.close();
    }, Math.max(50, idleTimeoutMs / 4));
  }
  private stopLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  private setState(state: ClientState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    for (const listener of this.stateListeners) listener(state);
  }

  // ---- inbound ----

  private receive(chunk: Uint8Array): void {
    this.lastHeardAt = Date.now();
    try {
      this.decoder.push(chunk, this.dispatch);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.transport?.close(); // a server speaking garbage is a dead link
    }
  }

  private readonly dispatch = (message: Message): void => {
    switch (message.type) {
      case MessageType.Response:
      case MessageType.Error:
        this.settle(message);
        return;
      case MessageType.Push:
        this.deliverPush(message);
        return;
      case MessageType.Heartbeat:
        if (this.transport) this.sendMessage(this.transport, message);
        return;
      case MessageType.Handshake:
        this.helloWaiter?.(decodeControl<ServerHello>(message.body, ["protocol", "heartbeatMs", "idleTimeoutMs"]));
        return;
      case MessageType.Kick:
        this.lastKick = decodeControl<KickBody>(message.body, ["code"]);
        for (const listener of this.kickListeners) this.callListener(listener, this.lastKick);
        return;
      default:
        throw new ProtocolError("bad-direction", `a server may not send message type ${message.type}`);
    }
  };

  private settle(message: Message): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return; // timed out already
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.type === MessageType.Error) {
      const error = decodeControl<ErrorBody>(message.body, ["code"]);
      pending.reject(new CommandError(error.code, error.message));
      return;
    }
    try {
      pending.resolve(pending.codec.decode(message.body));
    } catch (err) {
      pending.reject(new CommandError(ErrorCode.BadPayload, `reply is not valid ${pending.codec.name}: ${String(err)}`));
    }
  }

  private deliverPush(message: Message): void {
    // Session pushes are numbered; one already seen (a replay overlapping what arrived) is dropped.
    if (message.id !== 0) {
      if (message.id <= this.lastSeq) return;
      this.lastSeq = message.id;
    }
    const entry = this.pushes.get(message.command);
    if (entry === undefined || entry.listeners.size === 0) return;
    let data: unknown;
    try {
      data = entry.codec.decode(message.body);
    } catch (err) {
      this.reportListenerError(new Error(`push ${message.command} is not valid ${entry.codec.name}: ${String(err)}`));
      return;
    }
    if (entry.validate && !entry.validate(data)) {
      this.reportListenerError(new Error(`push ${message.command} failed validation`));
      return;
    }
    for (const listener of entry.listeners) this.callListener(listener, data);
  }

  private callListener<T>(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch (err) {
      this.reportListenerError(err);
    }
  }

  private reportListenerError(err: unknown): void {
    (this.clientOptions.onListenerError ?? ((e: unknown) => console.error("glowfly client:", e)))(err);
  }

  // ---- outbound ----

  private sendMessage(transport: ClientTransport, message: Message): void {
    transport.send(this.format.encode(message) as Uint8Array);
  }

  private allocateId(): number {
    let id = this.nextId;
    while (id === 0 || this.pending.has(id)) id = (id + 1) % U32_LIMIT;
    this.nextId = (id + 1) % U32_LIMIT;
    return id;
  }
}
