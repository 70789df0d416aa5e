/** Baseline: a bare `ws` echo server (binary message in, the same message out). */
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { serveRpc } from "../rpc.ts";

let connections = 0;

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, clientTracking: false });
server.on("connection", (ws) => {
  connections++;
  ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on("error", () => undefined);
  ws.on("close", () => connections--);
});

await new Promise<void>((resolve) => server.once("listening", resolve));
serveRpc({ ports: { ws: (server.address() as AddressInfo).port } }, { conns: () => connections });
