/** Reading a node config file from disk. */
import { readFile } from "node:fs/promises";
import { ConfigError, parseNodeConfig, type NodeConfigInput } from "./node-config.ts";

/** Read and validate a JSON config file. Errors name the file and the key path. */
export async function loadNodeConfigFile(path: string): Promise<NodeConfigInput> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseNodeConfig(value, path);
}
