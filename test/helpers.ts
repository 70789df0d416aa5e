/**
 * Test helpers: start real nodes on loopback ports, and a raw native/Firefly socket client
 * that exposes every frame (the SDK hides them; these tests need to see the bytes).
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import {
  consoleLogger,
  encodeControl,
  fireflyFormat,
  MessageType,
  nativeFormat,
  Node,
  type App,
  type FrameFormat,
  type LogLevel,
  type Logger,
  type Message,
  type NodeConfigInput,
} from "../src/index.ts";

/** A logger that keeps its lines, so tests can check what was logged. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = consoleLogger({ level: "debug", write: (_level: LogLevel, line: string) => lines.push(line) });
  return { logger, lines };
}

/** Start a node on ephemeral ports. `config.name` defaults to "test". */
export async function startNode(config: Partial<NodeConfigInput>, apps: App[] = [], logger?: Logger): Promise<Node> {
  const node = new Node({ config: { name: "test", ...config }, apps, logger: logger ?? captureLogger().logger });
  await node.start();
  return node;
}

/** The port of a node's n-th listener of a transport. */
export function portOf(node: Node, transport: "tcp" | "ws", index = 0): number {
  const found = node.addresses.filter((a) => a.transport === transport)[index];
  if (!found) throw new Error(`node has no ${transport} listener #${index}`);
  return found.port;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
export const json = (bytes: Uint8Array): unknown => JSON.parse(text(bytes)) as unknown;

/** Resolve when `predicate` holds, polling; reject after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A socket client that decodes every frame it receives. */
export class RawClient {
  readonly messages: Message[] = [];
  closed = false;
  private readonly decoder;

  private constructor(
    readonly socket: Socket,
    readonly format: FrameFormat,
  ) {
    this.decoder = format.createDecoder();
    socket.on("data", (chunk: Buffer) => this.decoder.push(chunk, (m) => this.messages.push(m)));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
  }

  /** Connect; with `handshake` (native only) send the hello and wait for the server's. */
  static async open(port: number, options: { frame?: "native" | "firefly"; handshake?: boolean; format?: FrameFormat } = {}): Promise<RawClient> {
    const format = options.format ?? (options.frame === "firefly" ? fireflyFormat() : nativeFormat());
    const socket = connect({ port, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawClient(socket, format);
    if (format.hasControlMessages && options.handshake !== false) {
      client.send({ type: MessageType.Handshake, id: 0, command: 0, body: encodeControl({ protocol: 1 }) });
      await client.next((m) => m.type === MessageType.Handshake);
    }
    return client;
  }

  send(message: Message): void {
    const frame = this.format.encode(message);
    if (frame === null) throw new Error(`format ${this.format.name} cannot carry type ${message.type}`);
    this.socket.write(frame);
  }

  request(id: number, command: number, body: unknown): void {
    this.send({ type: MessageType.Request, id, command, body: body === undefined ? new Uint8Array() : utf8(JSON.stringify(body)) });
  }

  /** Wait for the first received message (not yet taken) matching `match`, and take it. */
  async next(match: (m: Message) => boolean = () => true, timeoutMs = 3000): Promise<Message> {
    let found: Message | undefined;
    await waitFor(
      () => {
        const i = this.messages.findIndex(match);
        if (i < 0) return false;
        found = this.messages.splice(i, 1)[0];
        return true;
      },
      timeoutMs,
      "a matching message",
    );
    return found as Message;
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.closed, timeoutMs, "the socket to close");
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A port that was free a moment ago (for configs that need a fixed port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  return typeof address === "object" && address ? address.port : 0;
}

/**
 * A TCP proxy on loopback that can be cut (every piped connection destroyed, new ones refused)
 * and restored: a network outage between a client and a server, without touching either.
 */
export class CuttableProxy {
  down = false;
  private readonly sockets = new Set<Socket>();
  readonly server: Server = createServer((client) => {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => this.sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });

  constructor(private readonly targetPort: number) {}

  /** A proxy to `targetPort`, listening. */
  static async start(targetPort: number): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(targetPort);
    await proxy.listen();
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Listen on a free loopback port; returns it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as { port: number }).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}
