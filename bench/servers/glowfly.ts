/**
 * glowfly under test: one Node with a native TCP, a Firefly TCP and a WebSocket listener, all
 * echoing command 1 with the raw codec. Heartbeat and idle limits are raised so the idle
 * connections of the capacity test are neither pinged nor dropped.
 */
import { Node, command, defineApp, silentLogger } from "../../src/index.ts";
import { ECHO_COMMAND } from "../protocols.ts";
import { serveRpc } from "../rpc.ts";

const Echo = command<Uint8Array, Uint8Array>(ECHO_COMMAND, { name: "echo" });

const node = new Node({
  config: {
    name: "bench",
    codec: "raw",
    tcp: [
      { port: 0, frame: "native" },
      { port: 0, frame: "firefly" },
    ],
    ws: [{ port: 0 }],
    maxConnections: 50_000,
    limits: { heartbeatMs: 600_000, idleTimeoutMs: 1_200_000 },
  },
  apps: [defineApp((n) => n.commands.handle(Echo, (body) => body))],
  logger: silentLogger,
});

const addresses = await node.start();
const port = (transport: string, frame: string) => addresses.find((a) => a.transport === transport && a.frame === frame)?.port;
serveRpc(
  { ports: { native: port("tcp", "native"), firefly: port("tcp", "firefly"), ws: port("ws", "native") } },
  { conns: () => node.stats.connections },
);
