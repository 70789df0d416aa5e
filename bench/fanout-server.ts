/**
 * The raw fan-out limits: `node bench/fanout-server.ts net|ws`. A bare `net` server or a bare
 * `ws` server (binary messages, no compression) that writes one frame, built once, to every
 * socket in one loop. Clients send nothing; every open connection is a channel member.
 */
import { createServer, type AddressInfo, type Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { serveFanout, type FanoutAdapter } from "./fanout-serve.ts";
import { fanoutFrame } from "./fanout-wire.ts";

const ignore = () => undefined;

/** A callback shared by all writes of one broadcast (no closure per write) and the promise it settles. */
function countdown(n: number): { written: () => void; flushed: Promise<void> } {
  let left = n;
  let done!: () => void;
  const flushed = new Promise<void>((resolve) => (done = resolve));
  if (left === 0) done();
  return {
    written: () => {
      if (--left === 0) done();
    },
    flushed,
  };
}

async function rawNet(): Promise<FanoutAdapter> {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("error", ignore);
    socket.on("close", () => sockets.delete(socket));
  });
  server.maxConnections = 50_000;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.size,
    broadcast: (body) => {
      const frame = fanoutFrame(body);
      const { written, flushed } = countdown(sockets.size);
      for (const socket of sockets) socket.write(frame, written);
      return { sent: sockets.size, flushed };
    },
    channel: (body) => {
      const frame = fanoutFrame(body);
      for (const socket of sockets) socket.write(frame);
      return sockets.size;
    },
  };
}

async function rawWs(): Promise<FanoutAdapter> {
  const clients = new Set<WebSocket>();
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, backlog: 4096, perMessageDeflate: false, clientTracking: false });
  server.on("connection", (ws) => {
    clients.add(ws);
    ws.on("error", ignore);
    ws.on("close", () => clients.delete(ws));
  });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const binary = { binary: true } as const;
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => clients.size,
    broadcast: (body) => {
      const frame = fanoutFrame(body);
      const { written, flushed } = countdown(clients.size);
      for (const ws of clients) ws.send(frame, binary, written);
      return { sent: clients.size, flushed };
    },
    channel: (body) => {
      const frame = fanoutFrame(body);
      for (const ws of clients) ws.send(frame, binary);
      return clients.size;
    },
  };
}

const which = process.argv[2];
if (which !== "net" && which !== "ws") throw new Error(`usage: fanout-server.ts net|ws (got ${which})`);
serveFanout(which === "net" ? await rawNet() : await rawWs());
