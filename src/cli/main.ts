#!/usr/bin/env node
/**
 * The `glowfly` command.
 *   glowfly start [config]                 a node config: start that node; a cluster config: start the master
 *   glowfly start [config] --node <name>   start one node of a cluster config
 *   glowfly status | stop | reload [config]
 *   glowfly restart <node> [config]        admin calls to a running master
 */
import { fileLog } from "../log/file.ts";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig, type ClusterConfig } from "../config/index.ts";
import { consoleLogger } from "../log/logger.ts";
import { Master } from "../master/master.ts";
import { loadAdminToken } from "../master/token.ts";
import { adminCall } from "./admin-client.ts";
import { runClusterNode } from "./node-process.ts";
import { parseArgs, UsageError, USAGE, type Args } from "./args.ts";
import { runSingleNode } from "./single-node.ts";

const DEFAULT_CONFIGS = ["glowfly.json", "config.json"];

async function configPath(given: string | undefined): Promise<string> {
  if (given !== undefined) return resolve(given);
  const { access } = await import("node:fs/promises");
  for (const candidate of DEFAULT_CONFIGS) {
    try {
      await access(candidate);
      return resolve(candidate);
    } catch {
      // try the next
    }
  }
  throw new UsageError(`no config given and none of ${DEFAULT_CONFIGS.join(", ")} in ${process.cwd()}`);
}

/** Exit code, or -1 to keep running (servers). */
async function main(args: Args): Promise<number> {
  if (args.command === "help") {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const path = await configPath(args.config);
  const loaded = await loadConfig(path);
  if (args.command === "start") {
    if (loaded.kind === "node") {
      if (args.node !== undefined) throw new UsageError("--node needs a cluster config (one with `servers`)");
      await runSingleNode(loaded.config, path);
    } else if (args.node !== undefined) {
      await runClusterNode(loaded.config, args.node, args.master);
    } else {
      await runMaster(loaded.config, path, args.masterOnly === true);
    }
    return -1;
  }
  if (loaded.kind === "node") throw new UsageError(`${args.command} talks to a cluster's master; ${path} is a single-node config`);
  return admin(loaded.config, args);
}

async function runMaster(config: ClusterConfig, path: string, masterOnly: boolean): Promise<void> {
  const file = config.master.log.file;
  const log = consoleLogger({ level: config.master.log.level, ...(file === null ? {} : { write: fileLog(file) }) }).child({ node: "master" });
  const self = fileURLToPath(import.meta.url);
  const master = new Master({
    config,
    log,
    nodeCommand: (name) => ({ command: process.execPath, args: [...process.execArgv, self, "start", path, "--node", name] }),
    spawn: !masterOnly,
  });
  const { admin: address, registry } = await master.start();
  const what = masterOnly ? "master only (nodes join it)" : `${config.nodes.size} node(s)`;
  process.stdout.write(`glowfly master: ${what} from ${path}; registry ${registry.host}:${registry.port}${address ? `; admin API http://${address.host}:${address.port}` : ""}\n`);
  const stop = (signal: string) => {
    log.info("signal", { signal });
    void master.stop();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  void master.stopped.then(() => process.exit(0));
}

async function admin(config: ClusterConfig, args: Args): Promise<number> {
  const { master } = config;
  if (master.webport === null) throw new UsageError(`${config.source} gives the master no webport: there is no admin API to call`);
  const token = await loadAdminToken(master.tokenFile, { create: false });
  const host = master.host === "0.0.0.0" || master.host === "::" ? "127.0.0.1" : master.host;
  const base = `http://${host.includes(":") ? `[${host}]` : host}:${master.webport}`;
  const [method, path] =
    args.command === "status"
      ? (["GET", "/status"] as const)
      : args.command === "stop"
        ? (["POST", "/stop"] as const)
        : args.command === "reload"
          ? (["POST", "/reload"] as const)
          : (["POST", `/nodes/${encodeURIComponent(args.node ?? "")}/restart`] as const);
  const reply = await adminCall(base, token, method, path);
  process.stdout.write(JSON.stringify(reply.body, null, 2) + "\n");
  return reply.status < 300 ? 0 : 1;
}

let parsed: Args;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
main(parsed).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `glowfly: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
