/** glowfly client SDK, browser entry: `ws://` or `wss://` URLs. Imports nothing from Node. */
import { Client, type ClientOptions } from "./client.ts";
import { browserWebSocketTransport } from "./ws-browser.ts";

export * from "./client.ts";
export type { ClientTransport, TransportEvents, TransportFactory } from "./transport.ts";
export { command, push, CommandError, ErrorCode, KickCode } from "../protocol/index.ts";
export type { CommandDef, PushDef, KickBody, ServerHello, CodecName } from "../protocol/index.ts";

/** Connect and handshake (and log in, with `login`) over the browser's WebSocket. */
export async function connect(url: string, options: ClientOptions = {}): Promise<Client> {
  const client = createClient(url, options);
  await client.open();
  return client;
}

/** A client that is not connected yet: add push listeners, then `await client.open()`. */
export function createClient(url: string, options: ClientOptions = {}): Client {
  const parsed = new URL(url, globalThis.location?.href);
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new Error(`unsupported URL scheme "${parsed.protocol}" in a browser (use ws:// or wss://)`);
  }
  return new Client(parsed, browserWebSocketTransport, options);
}
