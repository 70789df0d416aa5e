/**
 * Client acceptors: a TCP listener (native or Firefly frames) and a WebSocket listener
 * (native frames in binary messages). Both hand their sockets to the hub as Connections.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { KickCode, type FrameFormat } from "../protocol/index.ts";
import type { Logger } from "../log/logger.ts";
import type { TransportKind } from "./connection.ts";
import { boundPort, listenOn } from "./listen.ts";
import type { ConnectionHub } from "./hub.ts";
import type { ConnectionLimits } from "./limits.ts";
import { TcpByteSocket, WsByteSocket } from "./socket.ts";

export interface ListenOptions {
  host: string;
  port: number;
  format: FrameFormat;
  limits: Readonly<ConnectionLimits>;
}

export interface ListenAddress {
  transport: TransportKind;
  frame: FrameFormat["name"];
  host: string;
  port: number;
  /** WebSocket path, "" for TCP. */
  path: string;
}

export interface Acceptor {
  listen(): Promise<ListenAddress>;
  /** Stop accepting; open connections are left to the caller. */
  close(): void;
}

export class TcpAcceptor implements Acceptor {
  private server: Server | null = null;

  constructor(
    private readonly hub: ConnectionHub,
    private readonly options: ListenOptions,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<ListenAddress> {
    const { format, limits } = this.options;
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      const connection = this.hub.admit("tcp", format, new TcpByteSocket(socket), limits);
      socket.on("data", (chunk: Buffer) => connection.receive(chunk));
      socket.on("close", () => connection.socketClosed());
      socket.on("error", (err) => this.log.debug("tcp socket error", { connection: connection.id, error: err.message }));
      connection.start();
    });
    this.server = server;
    const port = await listenOn(server, this.options.port, this.options.host);
    server.on("error", (err) => this.log.error("tcp listener error", { error: err.message }));
    return { transport: "tcp", frame: format.name, host: this.options.host, port, path: "" };
  }

  close(): void {
    this.server?.close();
    this.server = null;
  }
}

export interface WsListenOptions extends ListenOptions {
  path: string;
}

export class WsAcceptor implements Acceptor {
  private server: WebSocketServer | null = null;

  constructor(
    private readonly hub: ConnectionHub,
    private readonly options: WsListenOptions,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<ListenAddress> {
    const { format, limits, path } = this.options;
    const server = new WebSocketServer({
      host: this.options.host,
      port: this.options.port,
      path,
      // ws refuses bigger messages itself, before buffering them.
      maxPayload: format.headerSize + format.maxBody,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.server = server;
    server.on("connection", (ws: WebSocket, req: IncomingMessage) => {
      const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
      const connection = this.hub.admit("ws", format, new WsByteSocket(ws, remote), limits);
      ws.on("message", (data: RawData, isBinary: boolean) => {
        if (!isBinary || !(data instanceof Uint8Array)) {
          connection.close(KickCode.ProtocolError, "protocol error: only binary WebSocket messages are accepted");
          return;
        }
        connection.receiveMessage(data);
      });
      ws.on("close", () => connection.socketClosed());
      ws.on("error", (err) => connection.abort(KickCode.ProtocolError, `websocket error: ${err.message}`));
      connection.start();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.once("listening", () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.log.error("websocket listener error", { error: err.message }));
    const port = boundPort(server, this.options.port);
    return { transport: "ws", frame: format.name, host: this.options.host, port, path };
  }

  close(): void {
    this.server?.close();
    this.server = null;
  }
}
