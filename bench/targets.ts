/** What the bench can load, which server process serves it, and how to start that process. */
import { fileURLToPath } from "node:url";
import { Child } from "./child.ts";
import type { TargetKind } from "./protocols.ts";

export interface TargetSpec {
  kind: TargetKind;
  label: string;
  server: "raw-net" | "raw-ws" | "glowfly";
  /** Key of the server's ready line `ports` object. */
  port: string;
  /** The raw server this one is compared with. */
  baseline: TargetKind | null;
}

export const TARGETS: readonly TargetSpec[] = [
  { kind: "raw-net", label: "raw net (length prefix)", server: "raw-net", port: "tcp", baseline: null },
  { kind: "native", label: "glowfly tcp native", server: "glowfly", port: "native", baseline: "raw-net" },
  { kind: "firefly", label: "glowfly tcp firefly", server: "glowfly", port: "firefly", baseline: "raw-net" },
  { kind: "raw-ws", label: "raw ws", server: "raw-ws", port: "ws", baseline: null },
  { kind: "glowfly-ws", label: "glowfly ws native", server: "glowfly", port: "ws", baseline: "raw-ws" },
];

export const spec = (kind: TargetKind): TargetSpec => TARGETS.find((t) => t.kind === kind)!;

const SCRIPTS = { "raw-net": "./servers/raw-net.ts", "raw-ws": "./servers/raw-ws.ts", glowfly: "./servers/glowfly.ts" } as const;

export async function startServer(name: TargetSpec["server"], profile = false): Promise<Child> {
  const dir = fileURLToPath(new URL("./.profiles", import.meta.url));
  return Child.start(name, SCRIPTS[name], profile ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []);
}

export function portOf(target: TargetSpec, server: Child): number {
  const port = (server.ready.ports as Record<string, number | undefined>)[target.port];
  if (port === undefined) throw new Error(`${server.name} reported no ${target.port} port`);
  return port;
}

export interface OpenResult {
  held: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll the server's connection count until `ok` holds or the timeout passes. */
export async function waitConns(server: Child, ok: (n: number) => boolean, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await server.call<number>("conns");
    if (ok(n) || Date.now() > deadline) return n;
    await sleep(50);
  }
}
