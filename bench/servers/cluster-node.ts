/**
 * One node of the forwarded path, client → net → gate → game1 → back, in a process of its own.
 * The role is the first argument; game1 and net take the gate's root port as the second.
 *
 * - gate: a root port, no client listener, forwarded commands routed to game1;
 * - game1: links to the gate, handles command 1 with the raw codec (returns its body);
 * - net: a native TCP listener, links to the gate and forwards command 1, which it has no
 *   handler for.
 *
 * Limits as in bench/servers/glowfly.ts, so the net node treats clients as the direct one does.
 */
import { Node, command, defineApp, silentLogger, type App, type ClusterWiring } from "../../src/index.ts";
import { ECHO_COMMAND } from "../protocols.ts";
import { serveRpc } from "../rpc.ts";

const HOST = "127.0.0.1";
const Echo = command<Uint8Array, Uint8Array>(ECHO_COMMAND, { name: "echo" });

const role = process.argv[2];
const rootPort = Number(process.argv[3]);
if (role !== "gate" && role !== "game1" && role !== "net") throw new Error(`cluster-node: unknown role ${role}`);
if (role !== "gate" && !(Number.isInteger(rootPort) && rootPort > 0)) throw new Error(`cluster-node: ${role} needs the gate's root port`);

const link = { rootName: "gate", host: HOST, port: rootPort };
const wiring: Record<typeof role, ClusterWiring> = {
  gate: { root: { host: HOST, port: 0 }, routeTo: ["game1"] },
  game1: { links: [link] },
  net: { links: [link], forward: { to: "gate", ranges: [[ECHO_COMMAND, ECHO_COMMAND]] } },
};
const apps: App[] = role === "game1" ? [defineApp((n) => n.commands.handle(Echo, (body) => body))] : [];

const node = new Node({
  config: {
    name: role,
    codec: "raw",
    tcp: role === "net" ? [{ port: 0, frame: "native" }] : [],
    maxConnections: 50_000,
    limits: { heartbeatMs: 600_000, idleTimeoutMs: 1_200_000 },
  },
  apps,
  logger: silentLogger,
  cluster: wiring[role],
});

const addresses = await node.start();
serveRpc(
  { ports: { native: addresses.find((a) => a.transport === "tcp")?.port, root: node.root?.address?.port } },
  {
    conns: () => node.stats.connections,
    /** gate: the children linked to its root port. */
    children: () => node.root?.children() ?? [],
    /** game1, net: whether the link to the gate is open. */
    linked: () => node.remote("gate")?.isOpen ?? false,
    stats: () => node.stats,
  },
);
