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

/** Connect and handshake. Rejects if the server cannot be reached within the connect timeout. */
export async function connect(url: string, options: ClientOptions = {}): Promise<Client> {
  const parsed = new URL(url);
  const transport =
    parsed.protocol === "tcp:" ? tcpTransport : parsed.protocol === "ws:" || parsed.protocol === "wss:" ? nodeWebSocketTransport : null;
  if (transport === null) throw new Error(`unsupported URL scheme "${parsed.protocol}" (use tcp://, ws:// or wss://)`);
  const client = new Client(parsed, transport, options);
  await client.open();
  return client;
}
