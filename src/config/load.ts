/** Reading config files from disk: JSON, or a `.ts` / `.js` module whose default export is the config. */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { configKind, parseClusterConfig, type ClusterConfig, type ParseClusterOptions } from "./cluster.ts";
import { ConfigError, parseNodeConfig, type NodeConfigInput } from "./node-config.ts";

const SCRIPT_FILE = /\.[cm]?[jt]s$/i;
const TS_FILE = /\.[cm]?ts$/i;

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
}

/**
 * tsx's loader hooks, registered once per process, the first time a `.ts` config or app is
 * read. Module-level on purpose: loader hooks belong to the process, not to a node.
 */
let tsxRegistered: Promise<void> | undefined;
export function registerTsx(): Promise<void> {
  tsxRegistered ??= import("tsx/esm/api").then(({ register }) => {
    register();
  });
  return tsxRegistered;
}

async function importDefault(path: string): Promise<unknown> {
  if (TS_FILE.test(path)) await registerTsx();
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(path, [`cannot import the file: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (module.default === undefined) {
    throw new ConfigError(path, ["(top level): the module has no default export; write `export default defineConfig({ ... })`"]);
  }
  return module.default;
}

/**
 * The config object in a file: `.ts`, `.mts`, `.cts`, `.js`, `.mjs`, `.cjs` files are imported
 * and their default export returned (TypeScript through tsx); any other file is read as JSON.
 */
export async function readConfigFile(path: string): Promise<unknown> {
  return SCRIPT_FILE.test(path) ? importDefault(path) : readJson(path);
}

/** Read and validate a JSON node config file. Errors name the file and the key path. */
export async function loadNodeConfigFile(path: string): Promise<NodeConfigInput> {
  return parseNodeConfig(await readJson(path), path);
}

/**
 * Read and validate a cluster config file (`config.json`, or a `.ts`/`.js` module default-exporting
 * `defineConfig({...})`). Relative paths in it resolve against the file's directory.
 */
export async function loadClusterConfig(path: string, options: Pick<ParseClusterOptions, "checkFiles"> = {}): Promise<ClusterConfig> {
  const value = await readConfigFile(path);
  return parseClusterConfig(value, { ...options, source: path, baseDir: dirname(resolve(path)) });
}

export type LoadedConfig = { kind: "cluster"; config: ClusterConfig } | { kind: "node"; config: NodeConfigInput };

/** Read a config file and tell which kind it is: a cluster (`servers`) or one node (`name`). */
export async function loadConfig(path: string, options: Pick<ParseClusterOptions, "checkFiles"> = {}): Promise<LoadedConfig> {
  const value = await readConfigFile(path);
  switch (configKind(value)) {
    case "cluster":
      return { kind: "cluster", config: parseClusterConfig(value, { ...options, source: path, baseDir: dirname(resolve(path)) }) };
    case "node":
      return { kind: "node", config: parseNodeConfig(value, path) };
    case null:
      throw new ConfigError(path, ['(top level): neither a cluster config (it has no "servers") nor a node config (it has no "name")']);
  }
}
