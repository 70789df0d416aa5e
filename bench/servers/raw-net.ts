/** Baseline: a bare `net` echo server speaking 4-byte big-endian length-prefixed frames. */
import { createServer, type AddressInfo } from "node:net";
import { serveRpc } from "../rpc.ts";

let connections = 0;

const server = createServer({ noDelay: true }, (socket) => {
  connections++;
  let pending: Buffer | null = null;
  socket.on("data", (chunk: Buffer) => {
    const data = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (data.length - end >= 4) {
      const size = 4 + data.readUInt32BE(end);
      if (data.length - end < size) break;
      end += size;
    }
    // An echo's replies are the request bytes: every whole frame of this chunk in one write.
    if (end > 0) socket.write(end === data.length ? data : data.subarray(0, end));
    pending = end === data.length ? null : data.subarray(end);
  });
  socket.on("error", () => undefined);
  socket.on("close", () => connections--);
});
server.maxConnections = 50_000;

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRpc({ ports: { tcp: (server.address() as AddressInfo).port } }, { conns: () => connections });
