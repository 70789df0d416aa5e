/**
 * The table of a node's live connections: bounded, swept for liveness, and flushed once per
 * event-loop turn. Acceptors put connections in; the node reads them out by id.
 */
import { KickCode, type FrameFormat, type Message } from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import { Connection, type CloseInfo, type ConnectionHandler, type TransportKind, type WriteBatcher } from "./connection.ts";
import type { ConnectionLimits } from "./limits.ts";
import type { ByteSocket } from "./socket.ts";

export interface HubOptions {
  /** Receives the traffic of every admitted connection. */
  handler: ConnectionHandler;
  log: Logger;
  /** Connections beyond this are kicked with ServerFull right after accept. */
  maxConnections: number;
  /** Default payload codec, announced in handshakes. */
  codec: string;
  /** How often liveness is checked. */
  sweepMs: number;
}

export class ConnectionHub implements ConnectionHandler, WriteBatcher {
  private readonly live = new Map<number, Connection>();
  private nextId = 1;
  private toFlush: Connection[] = [];
  private flushScheduled = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly closedWaiters = new Set<() => void>();

  constructor(private readonly options: HubOptions) {}

  /** Open connections (handshake done), by id. */
  get(id: number): Connection | undefined {
    const connection = this.live.get(id);
    return connection?.isOpen ? connection : undefined;
  }
  /** Every connection not yet closed, open or not. */
  get size(): number {
    return this.live.size;
  }
  connections(): IterableIterator<Connection> {
    return this.live.values();
  }

  /** Wrap a freshly accepted socket. The caller wires socket events, then calls `start()`. */
  admit(transport: TransportKind, format: FrameFormat, socket: ByteSocket, limits: Readonly<ConnectionLimits>): Connection {
    const id = this.nextId++;
    const connection = new Connection({
      id,
      transport,
      format,
      socket,
      limits,
      handler: this,
      batcher: this,
      log: this.options.log,
      codec: this.options.codec,
      now: Date.now(),
    });
    this.live.set(id, connection);
    if (this.live.size > this.options.maxConnections) {
      connection.close(KickCode.ServerFull, `server holds its maximum of ${this.options.maxConnections} connections`);
    }
    return connection;
  }

  startSweeping(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), this.options.sweepMs);
    this.sweepTimer.unref();
  }
  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
  private sweep(): void {
    const now = Date.now();
    for (const connection of this.live.values()) connection.tick(now);
  }

  /** Resolves once every connection has closed, or after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.live.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.closedWaiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (this.live.size === 0) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.closedWaiters.add(check);
    });
  }

  // WriteBatcher: flush every written connection once, after this turn's I/O callbacks.
  schedule(connection: Connection): void {
    this.toFlush.push(connection);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushAll);
  }
  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.toFlush;
    this.toFlush = [];
    for (const connection of list) connection.flush();
  };

  // ConnectionHandler: keep the table, forward the rest.
  opened(connection: Connection): void {
    this.options.handler.opened(connection);
  }
  request(connection: Connection, message: Message): void {
    this.options.handler.request(connection, message);
  }
  notify(connection: Connection, message: Message): void {
    this.options.handler.notify(connection, message);
  }
  closed(connection: Connection, info: CloseInfo): void {
    this.live.delete(connection.id);
    this.options.handler.closed(connection, info);
    for (const check of this.closedWaiters) check();
  }
}
