/** What the bench can load, which server process(es) serve it, and how to start them. */
import { fileURLToPath } from "node:url";
import { Child } from "./child.ts";
import type { TargetKind } from "./protocols.ts";
import type { CpuSample } from "./rpc.ts";

export type ServerName = "raw-net" | "raw-ws" | "glowfly" | "forwarded";

export interface TargetSpec {
  kind: TargetKind;
  label: string;
  server: ServerName;
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
  { kind: "forwarded", label: "glowfly forwarded (net → gate → game1)", server: "forwarded", port: "native", baseline: "raw-net" },
];

/** Cells a forwarded cell is compared with, measured whenever it is (same run, same rounds). */
export const FORWARDED_COMPARED: readonly TargetKind[] = ["raw-net", "native"];

export const spec = (kind: TargetKind): TargetSpec => TARGETS.find((t) => t.kind === kind)!;

const SCRIPTS = { "raw-net": "./servers/raw-net.ts", "raw-ws": "./servers/raw-ws.ts", glowfly: "./servers/glowfly.ts" } as const;
const CLUSTER_SCRIPT = "./servers/cluster-node.ts";

const profileFlags = (sub: string | null): string[] => {
  const dir = fileURLToPath(new URL(sub === null ? "./.profiles" : `./.profiles/${sub}`, import.meta.url));
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`];
};

/** Start a single-process server (the idle test samples its memory directly). */
export async function startServer(name: keyof typeof SCRIPTS, profile = false): Promise<Child> {
  return Child.start(name, SCRIPTS[name], profile ? profileFlags(null) : []);
}

/** A server under load: one process, or the three processes of the forwarded path. */
export interface Server {
  readonly name: string;
  /** The processes whose CPU is the server's, in the order cpu() answers. */
  readonly processes: readonly string[];
  port(key: string): number;
  cpu(): Promise<CpuSample[]>;
  /** Client connections open at the node the clients connect to. */
  conns(): Promise<number>;
  stop(): Promise<void>;
}

function portIn(child: Child, key: string): number {
  const port = (child.ready.ports as Record<string, number | null | undefined>)[key];
  if (typeof port !== "number") throw new Error(`${child.name} reported no ${key} port`);
  return port;
}

export const portOf = (target: TargetSpec, child: Child): number => portIn(child, target.port);

class SingleServer implements Server {
  readonly processes: readonly string[];
  constructor(private readonly child: Child) {
    this.processes = [child.name];
  }
  get name(): string {
    return this.child.name;
  }
  port(key: string): number {
    return portIn(this.child, key);
  }
  async cpu(): Promise<CpuSample[]> {
    return [await this.child.call<CpuSample>("cpu")];
  }
  conns(): Promise<number> {
    return this.child.call<number>("conns");
  }
  stop(): Promise<void> {
    return this.child.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The forwarded path: gate, game1 and net, each a glowfly Node in its own process. The gate
 * starts first; game1 and net link to its root port; the cluster is ready once the gate has
 * both as children and both see their link open.
 */
export class ForwardedCluster implements Server {
  readonly name = "forwarded";
  readonly processes = ["net", "gate", "game1"] as const;

  private constructor(
    private readonly net: Child,
    private readonly gate: Child,
    private readonly game: Child,
  ) {}

  static async start(profile = false, timeoutMs = 15_000): Promise<ForwardedCluster> {
    const flags = (role: string) => (profile ? profileFlags(`forwarded-${role}`) : []);
    const started: Child[] = [];
    try {
      const gate = await Child.start("gate", CLUSTER_SCRIPT, flags("gate"), ["gate"]);
      started.push(gate);
      const rootPort = String(portIn(gate, "root"));
      const children = await Promise.allSettled([
        Child.start("game1", CLUSTER_SCRIPT, flags("game1"), ["game1", rootPort]),
        Child.start("net", CLUSTER_SCRIPT, flags("net"), ["net", rootPort]),
      ]);
      for (const c of children) if (c.status === "fulfilled") started.push(c.value);
      for (const c of children) if (c.status === "rejected") throw c.reason;
      const [game, net] = children.map((c) => (c as PromiseFulfilledResult<Child>).value) as [Child, Child];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [linked, netUp, gameUp] = await Promise.all([gate.call<string[]>("children"), net.call<boolean>("linked"), game.call<boolean>("linked")]);
        if (linked.includes("net") && linked.includes("game1") && netUp && gameUp) break;
        if (Date.now() > deadline) throw new Error(`the forwarded cluster did not link within ${timeoutMs} ms (gate children: ${linked.join(", ") || "none"})`);
        await sleep(50);
      }
      return new ForwardedCluster(net, gate, game);
    } catch (err) {
      await Promise.all(started.map((c) => c.stop()));
      throw err;
    }
  }

  port(key: string): number {
    return portIn(this.net, key);
  }

  cpu(): Promise<CpuSample[]> {
    return Promise.all([this.net, this.gate, this.game].map((c) => c.call<CpuSample>("cpu")));
  }

  conns(): Promise<number> {
    return this.net.call<number>("conns");
  }

  /** Stop all three (each is killed if it does not exit within 5 s). */
  async stop(): Promise<void> {
    await Promise.all([this.net.stop(), this.game.stop(), this.gate.stop()]);
  }
}

export async function startTarget(name: ServerName, profile = false): Promise<Server> {
  if (name === "forwarded") return ForwardedCluster.start(profile);
  return new SingleServer(await startServer(name, profile && name === "glowfly"));
}

export interface OpenResult {
  held: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

/** Poll a connection count until `ok` holds or the timeout passes. */
export async function waitConns(count: () => Promise<number>, ok: (n: number) => boolean, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await count();
    if (ok(n) || Date.now() > deadline) return n;
    await sleep(50);
  }
}
