/**
 * Helpers for the rpc tests: start roots and remotes on loopback with their cleanup registered
 * on the test, a raw peer that speaks link frames by hand, and timing of settled promises.
 */
import type { TestContext } from "node:test";
import { createServer, type Server, type Socket } from "node:net";
import {
  encodeHello,
  LINK_VERSION,
  MessageType,
  nativeFormat,
  PROTOCOL_VERSION,
  RootClient,
  RootServer,
  RpcError,
  type LinkHello,
  type Message,
  type RootClientOptions,
  type RootServerOptions,
} from "../../src/index.ts";
import { captureLogger, RawClient, waitFor } from "../helpers.ts";

export { sleep, waitFor } from "../helpers.ts";

/** Start a root on 127.0.0.1:0 (closed after the test). Its log lines are kept in `lines`. */
export async function startRoot(
  t: TestContext,
  options: Partial<RootServerOptions> = {},
): Promise<{ root: RootServer; port: number; lines: string[] }> {
  const { logger, lines } = captureLogger();
  const root = new RootServer({ name: "gate", logger, ...options });
  t.after(() => root.close());
  const { port } = await root.listen();
  return { root, port, lines };
}

/** Create a remote (closed after the test) and link it to the root at `port`. */
export async function startRemote(
  t: TestContext,
  port: number,
  options: Partial<RootClientOptions> = {},
): Promise<{ remote: RootClient; lines: string[] }> {
  const { logger, lines } = captureLogger();
  const remote = new RootClient({ name: "game1", logger, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, ...options });
  t.after(() => remote.close());
  await remote.connect("127.0.0.1", port);
  return { remote, lines };
}

/** How a promise settled, and after how many milliseconds. */
export interface Outcome<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
  ms: number;
}

export function timed<T>(promise: Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  return promise.then(
    (value) => ({ ok: true, value, ms: performance.now() - started }),
    (error: unknown) => ({ ok: false, error, ms: performance.now() - started }),
  );
}

/** An assert.rejects matcher for an RpcError with this code (and, optionally, message test). */
export function rpcError(code: number, message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${String(err)}`);
    if (err.code !== code) throw new Error(`expected code ${code}, got ${err.code}: ${err.message}`);
    if (message && !message.test(err.message)) throw new Error(`message ${JSON.stringify(err.message)} does not match ${String(message)}`);
    return true;
  };
}

export function hello(node: string, extra: Partial<LinkHello> = {}): LinkHello {
  return {
    protocol: PROTOCOL_VERSION,
    link: LINK_VERSION,
    node,
    heartbeatMs: 5000,
    idleTimeoutMs: 15000,
    maxBodyBytes: 1 << 20,
    maxInFlight: 100,
    ...extra,
  };
}

export function frame(type: number, body: Uint8Array = new Uint8Array(0), id = 0): Message {
  return { type: type as Message["type"], id, command: 0, body };
}

/** A raw socket to a root; with `as`, it sends a link hello and waits for the root's. */
export async function rawPeer(t: TestContext, port: number, as?: string, extra: Partial<LinkHello> = {}): Promise<RawClient> {
  const peer = await RawClient.open(port, { handshake: false, format: nativeFormat({ maxBody: 64 << 20 }) });
  t.after(() => peer.close());
  if (as !== undefined) {
    peer.send(frame(MessageType.Handshake, encodeHello(hello(as, extra))));
    await peer.next((m) => m.type === MessageType.Handshake);
  }
  return peer;
}

/**
 * A fake root: answers a link hello as `name`, then does nothing else (no heartbeats, no
 * replies), like a process that hangs. Closed after the test.
 */
export async function silentRoot(t: TestContext, name = "hung", extra: Partial<LinkHello> = {}): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    const decoder = nativeFormat().createDecoder();
    socket.on("data", (chunk: Buffer) =>
      decoder.push(chunk, (m) => {
        if (m.type === MessageType.Handshake) socket.write(nativeFormat().encode(frame(MessageType.Handshake, encodeHello(hello(name, extra)))) as Uint8Array);
      }),
    );
  });
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("no address");
  return { server, port: address.port, sockets };
}

/** Wait until `lines` holds a line matching `pattern`. */
export async function logged(lines: string[], pattern: RegExp, timeoutMs = 3000): Promise<string> {
  await waitFor(() => lines.some((l) => pattern.test(l)), timeoutMs, `a log line matching ${String(pattern)}`);
  return lines.find((l) => pattern.test(l)) as string;
}
