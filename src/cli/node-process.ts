/**
 * One node of a cluster, in its own process: what the master spawns (`glowfly start <config>
 * --node <name>`). It reports ready and its status to the master over IPC when it has one,
 * and keeps serving its clients if the master goes away.
 */
import { fileLog } from "../log/file.ts";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { ALL_COMMANDS, type ClusterConfig, type ClusterNode, type ForwardSettings } from "../config/index.ts";
import { consoleLogger } from "../log/logger.ts";
import { loadApp, Node } from "../node/index.ts";
import { MASTER_ENV, reportTo } from "../master/registry.ts";
import { RootClient } from "../rpc/index.ts";

const REPORT_EVERY_MS = 1000;

/**
 * Firefly's `reloadmodule`: import the module afresh (a new URL, so ESM does not hand back the
 * cached instance) and run its default export with the node, if it is a function.
 */
async function reloadModule(node: Node, path: string, generation: number): Promise<void> {
  // A new URL makes the ESM loader evaluate the file again; a .ts file outside a "type": "module"
  // package is loaded as CommonJS, whose cache ignores the URL's query, so drop it from that too.
  delete createRequire(import.meta.url).cache[path];
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

export async function runClusterNode(config: ClusterConfig, name: string, masterAddress?: string): Promise<void> {
  masterAddress ??= process.env[MASTER_ENV] || undefined;
  const spec = config.nodes.get(name);
  if (spec === undefined) throw new Error(`${config.source} has no server named "${name}"`);
  // A master that died leaves our stdout pipe without a reader: losing log lines must not kill the node.
  process.stdout.on("error", () => {});
  process.stderr.on("error", () => {});
  const apps = await Promise.all(spec.apps.map((path) => loadApp(path, config.baseDir)));
  const root = spec.listeners.find((l) => l.role === "root");
  const logger = consoleLogger({ level: spec.log.level, ...(spec.log.file === null ? {} : { write: fileLog(spec.log.file) }) });
  // The registry link: status reports, stop and reload; and entity leases when ownership is
  // "master", so it is up before the node opens its data. It reconnects by itself, so this node
  // reattaches to a master that restarts (or that starts after it, with --master-only).
  const registry = masterAddress ?? (config.master.registry.port !== 0 ? `${config.master.registry.host}:${config.master.registry.port}` : undefined);
  const link = registry === undefined ? undefined : new RootClient({ name, logger: logger.child({ node: name }), timeoutMs: spec.timeouts.rpcMs, reconnect: { maxDelayMs: 2000 } });
  if (link !== undefined && registry !== undefined) {
    const [host, port] = splitHostPort(registry);
    link.connect(host, port).catch(() => logger.info("master not reachable yet; the registry link keeps trying", { node: name, master: registry }));
  }
  const node = new Node({
    config: spec.node,
    apps,
    // With a log file the node's log does not depend on the master's pipe (which a restarted master does not inherit).
    logger,
    ...(link === undefined ? {} : { master: link }),
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
  let reloads = 0;
  const reload = () => {
    if (spec.reload === null) {
      node.log.info("reload requested; this node has no reload module");
      return;
    }
    reloadModule(node, spec.reload, ++reloads).then(
      () => node.log.info("reloaded", { module: spec.reload ?? "" }),
      (err: unknown) => node.log.error("reload failed", { module: spec.reload ?? "", error: String(err) }),
    );
  };
  let stopping = false;
  const stop = (why: string, deadlineMs?: number) => {
    if (stopping) return;
    stopping = true;
    node.log.info("stopping", { why });
    node.stop({ deadlineMs }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  if (link !== undefined) reportTo(link, () => ({ name, pid: process.pid, ...node.stats }), REPORT_EVERY_MS, { stop: (ms) => stop("the master asked", ms), reload });
  process.on("disconnect", () => node.log.warn("lost the master's IPC channel; serving on"));
  process.send?.({ type: "ready", addresses });
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** "host:port" or "[v6]:port" → [host, port]. */
export function splitHostPort(address: string): [string, number] {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`"${address}" is not host:port`);
  return [match[1] as string, port];
}
