/** `glowfly start` with a single-node config: one node in this process. */
import { dirname } from "node:path";
import type { NodeConfigInput } from "../config/index.ts";
import { loadApp, Node } from "../node/index.ts";

export async function runSingleNode(config: NodeConfigInput, path: string): Promise<void> {
  const appPaths = config.app === undefined ? [] : Array.isArray(config.app) ? config.app : [config.app];
  const apps = await Promise.all(appPaths.map((p) => loadApp(p, dirname(path))));
  const node = new Node({ config, apps });
  const addresses = await node.start();
  for (const a of addresses) {
    const scheme = a.transport === "ws" ? "ws" : "tcp";
    process.stdout.write(`glowfly node "${node.name}" listening: ${scheme}://${a.host}:${a.port}${a.path} (${a.frame} frames)\n`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    node.log.info("stopping", { signal });
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        node.log.error("stop failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
