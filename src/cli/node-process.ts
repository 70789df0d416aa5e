/**
 * One node of a cluster, in its own process: what the master spawns (`glowfly start <config>
 * --node <name>`). It reports ready and its status to the master over IPC when it has one,
 * and keeps serving its clients if the master goes away.
 */
import { pathToFileURL } from "node:url";
import { ALL_COMMANDS, type ClusterConfig, type ClusterNode, type ForwardSettings } from "../config/index.ts";
import { consoleLogger } from "../log/logger.ts";
import { loadApp, Node } from "../node/index.ts";

const REPORT_EVERY_MS = 1000;

/**
 * Firefly's `reloadmodule`: import the module afresh (a new URL, so ESM does not hand back the
 * cached instance) and run its default export with the node, if it is a function.
 */
async function reloadModule(node: Node, path: string, generation: number): Promise<void> {
  const module = (await import(`${pathToFileURL(path).href}?reload=${generation}`)) as { default?: unknown };
  if (typeof module.default === "function") await (module.default as (node: Node) => unknown)(node);
}

/**
 * What a node forwards: its `forward` setting, or, as Firefly's net nodes did (all of them, by
 * app code), every unhandled command of a client-facing node that has exactly one root.
 */
function forwardOf(spec: ClusterNode): ForwardSettings | null {
  if (spec.forward !== null) return spec.forward;
  const clientFacing = spec.roles.includes("net") || spec.roles.includes("ws");
  const only = spec.links.length === 1 ? spec.links[0] : undefined;
  return clientFacing && only ? { to: only.rootName, ranges: [ALL_COMMANDS] } : null;
}

export async function runClusterNode(config: ClusterConfig, name: string): Promise<void> {
  const spec = config.nodes.get(name);
  if (spec === undefined) throw new Error(`${config.source} has no server named "${name}"`);
  // A master that died leaves our stdout pipe without a reader: losing log lines must not kill the node.
  process.stdout.on("error", () => {});
  process.stderr.on("error", () => {});
  const apps = await Promise.all(spec.apps.map((path) => loadApp(path, config.baseDir)));
  const root = spec.listeners.find((l) => l.role === "root");
  const node = new Node({
    config: spec.node,
    apps,
    logger: consoleLogger({ level: spec.log.level }),
    cluster: {
      root: root ? { host: root.host, port: root.port } : undefined,
      links: spec.links,
      timeoutMs: spec.timeouts.rpcMs,
      forward: forwardOf(spec),
      // Children that take forwarded commands: every node linked here that does not itself forward here.
      routeTo: [...config.nodes.values()].filter((n) => n.links.some((l) => l.rootName === name) && forwardOf(n)?.to !== name).map((n) => n.name),
    },
  });
  const addresses = await node.start();
  const report = () => {
    if (!process.connected) return;
    const stats = node.stats;
    process.send?.({ type: "status", connections: stats.connections, inFlight: stats.inFlight, requests: stats.requests, rpcPending: stats.rpcPending, rpcInFlight: stats.rpcInFlight });
  };
  const reporter = setInterval(report, REPORT_EVERY_MS);
  reporter.unref();
  let reloads = 0;
  process.on("message", (message: unknown) => {
    if (typeof message !== "object" || message === null || (message as { type?: unknown }).type !== "reload") return;
    if (spec.reload === null) {
      node.log.info("reload requested; this node has no reload module");
      return;
    }
    reloadModule(node, spec.reload, ++reloads).then(
      () => node.log.info("reloaded", { module: spec.reload ?? "" }),
      (err: unknown) => node.log.error("reload failed", { module: spec.reload ?? "", error: String(err) }),
    );
  });
  process.on("disconnect", () => node.log.warn("lost the master's IPC channel; serving on"));
  process.send?.({ type: "ready", addresses });
  report();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(reporter);
    node.log.info("stopping", { signal });
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
