/**
 * In-process session clusters over real loopback links, for the session tests. Two shapes:
 * "root": the gateway is the scenes' root (RedRabbit's gate + scenes); "gate": gateway(s) →
 * gate → scenes (Firefly's net → gate → game), the gate routing by each session's scene.
 */
import { defineApp, Node, RootClient, type App, type SessionSettingsInput } from "../../src/index.ts";
import { Registry } from "../../src/master/registry.ts";
import { captureLogger, portOf, waitFor } from "../helpers.ts";

export interface SessionClusterOptions {
  shape: "root" | "gate";
  scenes: readonly string[];
  /** Gateways (default one, "gateway"). */
  gateways?: readonly string[];
  sessions?: SessionSettingsInput;
  /** App code per node name (gateways, scenes, "gate"). */
  apps?: Record<string, App>;
  rpcTimeoutMs?: number;
  /** Give the gateways a master (an in-process registry), as under `glowfly start`. */
  master?: boolean;
}

export interface SessionCluster {
  gateways: Map<string, Node>;
  scenes: Map<string, Node>;
  gate: Node | null;
  /** The master's registry, with `master: true`. */
  registry: Registry | null;
  /** The registry's port (0 without `master: true`). */
  registryPort: number;
  /** Each gateway's link to the registry, with `master: true`. */
  masterLinks: Map<string, RootClient>;
  /** tcp:// and ws:// URLs of a gateway. */
  tcp(gateway?: string): string;
  ws(gateway?: string): string;
  /** Start a scene again after it was stopped (same name, same root). */
  restartScene(name: string): Promise<Node>;
  stop(): Promise<void>;
}

/** A verify hook that takes `{ name }` credentials as the uid. */
export const nameVerify = defineApp((node) => {
  node.sessions.verify((credentials) => {
    const name = (credentials as { name?: unknown } | null)?.name;
    if (typeof name !== "string" || name.length === 0) throw new Error("no name");
    return { uid: name, data: { name } };
  });
});

export async function sessionCluster(options: SessionClusterOptions): Promise<SessionCluster> {
  const quiet = () => captureLogger().logger;
  const apps = options.apps ?? {};
  const gatewayNames = options.gateways ?? ["gateway"];
  const appsOf = (name: string): App[] => (apps[name] ? [apps[name]] : []);
  const sessions: SessionSettingsInput = { scene: options.scenes[0], ...options.sessions };
  let gate: Node | null = null;
  const gateways = new Map<string, Node>();
  const scenes = new Map<string, Node>();
  let rootPort: number;
  let rootName: string;
  const registry = options.master === true ? new Registry({ host: "127.0.0.1", port: 0, log: quiet() }) : null;
  const registryPort = registry === null ? 0 : (await registry.listen()).port;
  const masterLinks = new Map<string, RootClient>();
  const masterOf = async (name: string): Promise<{ master?: RootClient }> => {
    if (registry === null) return {};
    const link = new RootClient({ name, logger: quiet(), timeoutMs: 2000, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    await link.connect("127.0.0.1", registryPort);
    masterLinks.set(name, link);
    return { master: link };
  };
  if (options.shape === "gate") {
    gate = new Node({ config: { name: "gate" }, logger: quiet(), cluster: { root: { host: "127.0.0.1", port: 0 }, timeoutMs: options.rpcTimeoutMs }, apps: appsOf("gate") });
    await gate.start();
    rootPort = gate.root!.address!.port;
    rootName = "gate";
    for (const name of gatewayNames) {
      const node = new Node({
        config: { name, tcp: [{ port: 0 }], ws: [{ port: 0 }], sessions },
        logger: quiet(),
        cluster: { links: [{ rootName, host: "127.0.0.1", port: rootPort }], forward: { to: "gate", ranges: [[0, 0xfffffeff]] }, timeoutMs: options.rpcTimeoutMs },
        apps: [nameVerify, ...appsOf(name)],
        ...(await masterOf(name)),
      });
      await node.start();
      gateways.set(name, node);
    }
  } else {
    if (gatewayNames.length !== 1) throw new Error("the root shape has one gateway");
    const name = gatewayNames[0]!;
    const node = new Node({
      config: { name, tcp: [{ port: 0 }], ws: [{ port: 0 }], sessions },
      logger: quiet(),
      cluster: { root: { host: "127.0.0.1", port: 0 }, timeoutMs: options.rpcTimeoutMs },
      apps: [nameVerify, ...appsOf(name)],
      ...(await masterOf(name)),
    });
    await node.start();
    gateways.set(name, node);
    rootPort = node.root!.address!.port;
    rootName = name;
  }
  const startScene = async (name: string) => {
    const node = new Node({ config: { name }, logger: quiet(), cluster: { links: [{ rootName, host: "127.0.0.1", port: rootPort }], timeoutMs: options.rpcTimeoutMs }, apps: appsOf(name) });
    await node.start();
    scenes.set(name, node);
    return node;
  };
  for (const name of options.scenes) await startScene(name);
  const root = gate ?? gateways.values().next().value!;
  const children = options.shape === "gate" ? options.scenes.length + gatewayNames.length : options.scenes.length;
  await waitFor(() => root.root!.children().length === children, 5000, "every node to join its root");
  const gatewayNode = (name?: string) => {
    const node = gateways.get(name ?? gatewayNames[0]!);
    if (node === undefined) throw new Error(`no gateway ${name}`);
    return node;
  };
  return {
    gateways,
    scenes,
    gate,
    registry,
    registryPort,
    masterLinks,
    tcp: (name) => `tcp://127.0.0.1:${portOf(gatewayNode(name), "tcp")}`,
    ws: (name) => `ws://127.0.0.1:${portOf(gatewayNode(name), "ws")}/`,
    restartScene: async (name) => {
      const node = await startScene(name);
      await waitFor(() => root.root!.children().includes(name), 5000, `${name} to rejoin`);
      return node;
    },
    stop: async () => {
      for (const node of gateways.values()) await node.stop();
      for (const node of scenes.values()) await node.stop();
      await gate?.stop();
      for (const link of masterLinks.values()) await link.close();
      await registry?.close();
    },
  };
}
