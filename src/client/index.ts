/**
 * glowfly client SDK, Node entry: `tcp://host:port` or `ws://host:port/path`.
 * Browsers get ./browser.ts (same API, WebSocket only) through the package's "browser" export.
 */
import { Client, type ClientOptions } from "./client.ts";
import { nodeWebSocketTransport, tcpTransport } from "./node-transports.ts";

export * from "./client.ts";
export type { ClientTransport, TransportEvents, TransportFactory } from "./transport.ts";
export { command, push, CommandError, ErrorCode, KickCode } from "../protocol/index.ts";
export type { CommandDef, PushDef, KickBody, ServerHello, CodecName } from "../protocol/index.ts";

/** Connect and handshake (and log in, with `login`). Rejects if the server cannot be reached within the connect timeout. */
export async function connect(url: string, options: ClientOptions = {}): Promise<Client> {
  const client = createClient(url, options);
  await client.open();
  return client;
}

/**
 * A client that is not connected yet: add push listeners, then `await client.open()` — for
 * pushes a scene sends while the session is being established (its `enter` hook).
 */
export function createClient(url: string, options: ClientOptions = {}): Client {
  const parsed = new URL(url);
  const transport =
    parsed.protocol === "tcp:" ? tcpTransport : parsed.protocol === "ws:" || parsed.protocol === "wss:" ? nodeWebSocketTransport : null;
  if (transport === null) throw new Error(`unsupported URL scheme "${parsed.protocol}" (use tcp://, ws:// or wss://)`);
  return new Client(parsed, transport, options);
}
