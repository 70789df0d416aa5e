/** Node transports for the client SDK: TCP (net) and WebSocket (the `ws` package). */
import { connect as netConnect } from "node:net";
import { WebSocket, type RawData } from "ws";
import { connectAttempt, type ClientTransport, type TransportFactory } from "./transport.ts";

export const tcpTransport: TransportFactory = (url, events, timeoutMs) => {
  const socket = netConnect({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port), noDelay: true });
  const attempt = connectAttempt<ClientTransport>(url, timeoutMs, () => socket.destroy());
  let lastError = "";
  socket.once("connect", () =>
    attempt.succeed({
      send: (bytes) => socket.write(bytes),
      close: () => socket.end(),
      abort: () => socket.destroy(),
    }),
  );
  socket.on("data", (chunk: Buffer) => events.data(chunk));
  socket.on("error", (err) => {
    lastError = err.message;
  });
  socket.on("close", () => {
    if (attempt.settled) events.closed(lastError || "connection closed");
    else attempt.fail(new Error(`cannot connect to ${url.href}: ${lastError || "closed"}`));
  });
  return attempt.promise;
};

export const nodeWebSocketTransport: TransportFactory = (url, events, timeoutMs) => {
  const socket = new WebSocket(url.href, { perMessageDeflate: false });
  const attempt = connectAttempt<ClientTransport>(url, timeoutMs, () => socket.terminate());
  let lastError = "";
  socket.once("open", () =>
    attempt.succeed({
      send: (bytes) => socket.send(bytes, { binary: true }),
      close: () => socket.close(1000),
      abort: () => socket.terminate(),
    }),
  );
  socket.on("message", (data: RawData) => {
    if (data instanceof Uint8Array) events.data(data);
  });
  socket.on("error", (err) => {
    lastError = err.message;
  });
  socket.on("close", (code: number) => {
    if (attempt.settled) events.closed(lastError || `websocket closed (${code})`);
    else attempt.fail(new Error(`cannot connect to ${url.href}: ${lastError || `closed (${code})`}`));
  });
  return attempt.promise;
};
