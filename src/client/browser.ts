/** glowfly client SDK, browser entry: `ws://` or `wss://` URLs. Imports nothing from Node. */
import { Client, type ClientOptions } from "./client.ts";
import { browserWebSocketTransport } from "./ws-browser.ts";

export * from "./client.ts";
export type { ClientTransport, TransportEvents, TransportFactory } from "./transport.ts";
export { command, push, CommandError, ErrorCode, KickCode } from "../protocol/index.ts";
export type { CommandDef, PushDef, KickBody, ServerHello, CodecName } from "../protocol/index.ts";

/** Connect and handshake over the browser's WebSocket. */
export async function connect(url: string, options: ClientOptions = {}): Promise<Client> {
  const parsed = new URL(url, globalThis.location?.href);
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new Error(`unsupported URL scheme "${parsed.protocol}" in a browser (use ws:// or wss://)`);
  }
  const client = new Client(parsed, browserWebSocketTransport, options);
  await client.open();
  return client;
}
