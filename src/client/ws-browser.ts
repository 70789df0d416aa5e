/** WebSocket transport on the platform's global WebSocket (browsers, Node 22+). */
import { connectAttempt, type ClientTransport, type TransportFactory } from "./transport.ts";

export const browserWebSocketTransport: TransportFactory = (url, events, timeoutMs) => {
  const socket = new WebSocket(url.href);
  socket.binaryType = "arraybuffer";
  const attempt = connectAttempt<ClientTransport>(url, timeoutMs, () => socket.close());
  socket.onopen = () =>
    attempt.succeed({
      send: (bytes) => socket.send(bytes as Uint8Array<ArrayBuffer>),
      close: () => socket.close(1000),
    });
  socket.onmessage = (event: MessageEvent) => {
    if (event.data instanceof ArrayBuffer) events.data(new Uint8Array(event.data));
  };
  socket.onclose = (event: CloseEvent) => {
    const reason = `websocket closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    if (attempt.settled) events.closed(reason);
    else attempt.fail(new Error(`cannot connect to ${url.href}: ${reason}`));
  };
  return attempt.promise;
};
