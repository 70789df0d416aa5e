/**
 * The line protocol between the orchestrator and its child processes: the child prints one
 * JSON line when it is ready, then answers JSON-line commands read from stdin
 * ({id, cmd, args} → {id, result} or {id, error}). The child exits when stdin closes, so it
 * cannot outlive the orchestrator.
 */
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

export type Args = Record<string, unknown>;
export type Handlers = Record<string, (args: Args) => unknown>;

function send(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

export function serveRpc(ready: Record<string, unknown>, handlers: Handlers): void {
  const all: Handlers = { ...processHandlers, ...handlers };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const { id, cmd, args } = JSON.parse(line) as { id: number; cmd: string; args: Args };
    if (cmd === "exit") {
      send({ id, result: null });
      process.exit(0);
    }
    const handler = all[cmd];
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`unknown command ${cmd}`);
        return handler(args);
      })
      .then(
        (result) => send({ id, result: result ?? null }),
        (err: unknown) => send({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  lines.on("close", () => process.exit(0));
  send({ ready: true, ...ready });
}

export interface CpuSample {
  /** User + system CPU time of the process, microseconds. */
  cpuUs: number;
  /** performance.now() of the process, milliseconds. */
  wallMs: number;
}

export interface MemSample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Commands every child answers. */
const processHandlers: Handlers = {
  cpu: (): CpuSample => {
    const { user, system } = process.cpuUsage();
    return { cpuUs: user + system, wallMs: performance.now() };
  },
  mem: async (): Promise<MemSample> => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    return { rss, heapUsed, external, arrayBuffers };
  },
};
