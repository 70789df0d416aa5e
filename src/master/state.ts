/**
 * The master's memory across its own restarts: which pid runs each node. A new master reads
 * it to adopt nodes that are still running instead of starting duplicates.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export type NodePids = Record<string, number>;

/** The pid of each node, and the registry port nodes link to (reused when the config says 0). */
export interface MasterState {
  registryPort: number | null;
  nodes: NodePids;
}

const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

export async function readMasterState(file: string): Promise<MasterState> {
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as { registryPort?: unknown; nodes?: unknown };
    const nodes: NodePids = {};
    if (typeof value.nodes === "object" && value.nodes !== null) {
      for (const [name, pid] of Object.entries(value.nodes)) if (isPositiveInt(pid)) nodes[name] = pid;
    }
    return { registryPort: isPositiveInt(value.registryPort) && value.registryPort <= 65535 ? value.registryPort : null, nodes };
  } catch {
    return { registryPort: null, nodes: {} }; // none yet, or unreadable: adopt nothing
  }
}

export async function writeMasterState(file: string, state: MasterState): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(state) + "\n", { mode: 0o600 });
}

export async function clearMasterState(file: string): Promise<void> {
  await rm(file, { force: true });
}
