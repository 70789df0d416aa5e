#!/usr/bin/env node
/**
 * The `glowfly` command.
 *   glowfly start [config]   start a node from a config file (default ./glowfly.json)
 */
import { dirname, resolve } from "node:path";
import { ConfigError, loadNodeConfigFile } from "../config/index.ts";
import { loadApp, Node } from "../node/index.ts";

const USAGE = `usage: glowfly start [config.json]

  start [config]   start a node from a config file (default: ./glowfly.json)
  help             show this text`;

async function start(configPath: string): Promise<void> {
  const path = resolve(configPath);
  const config = await loadNodeConfigFile(path);
  const baseDir = dirname(path);
  const appPaths = config.app === undefined ? [] : Array.isArray(config.app) ? config.app : [config.app];
  // App modules may be TypeScript: let tsx load them when glowfly itself runs as compiled JS.
  if (appPaths.some((p) => /\.(c|m)?tsx?$/.test(p))) {
    const { register } = await import("tsx/esm/api");
    register();
  }
  const apps = await Promise.all(appPaths.map((p) => loadApp(p, baseDir)));
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

async function main(argv: readonly string[]): Promise<number> {
  const [commandName, ...rest] = argv;
  switch (commandName) {
    case "start":
      if (rest.length > 1) {
        process.stderr.write(`glowfly start takes one config path, got ${rest.length}\n${USAGE}\n`);
        return 2;
      }
      await start(rest[0] ?? "glowfly.json");
      return -1; // keep running until a signal
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return commandName === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${commandName}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `glowfly: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
