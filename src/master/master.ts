/**
 * The master: spawns and supervises every node of a cluster config, and serves the admin API.
 * It holds no game state; a node keeps serving its clients if the master goes away.
 */
import { dirname, join } from "node:path";
import type { ClusterConfig } from "../config/index.ts";
import type { Logger } from "../log/logger.ts";
import { AdminServer, ConflictError, UnknownNodeError } from "./admin.ts";
import { pidAlive, Supervisor, type ProcessStatus } from "./supervisor.ts";
import { loadAdminToken } from "./token.ts";
import { MASTER_ENV, Registry } from "./registry.ts";
import { clearMasterState, readMasterState, writeMasterState, type MasterState, type NodePids } from "./state.ts";

export interface MasterOptions {
  config: ClusterConfig;
  /** How to start one node: the command and arguments for node `name`. */
  nodeCommand: (name: string) => { command: string; args: string[] };
  log: Logger;
  /** Where node output goes (default: prefixed lines on this process's stdout/stderr). */
  output?: (name: string, stream: "stdout" | "stderr", line: string) => void;
  /**
   * false (`glowfly start --master-only`): spawn nothing; nodes started elsewhere with
   * `--node <name> --master host:port` join through the registry. Default true.
   */
  spawn?: boolean;
}

export interface NodeStatus extends Omit<ProcessStatus, "state"> {
  /** "absent": a node a --master-only master has not heard from. */
  state: ProcessStatus["state"] | "absent";
  roles: readonly string[];
  /** Client connections and requests in flight, as last reported by the node. */
  connections: number | null;
  inFlight: number | null;
  /** Calls to other nodes waiting for replies / handlers running for other nodes, as last reported. */
  rpcPending: number | null;
  rpcInFlight: number | null;
}

/** How long a restarted master waits for the previous master's nodes to reattach. */
const ADOPT_WAIT_MS = 6000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Master {
  private supervisor: Supervisor;
  private registry: Registry;
  private admin: AdminServer | null = null;
  private readonly startedAt = Date.now();
  private readonly stateFile: string;
  private savedPids = "";
  private pidTimer: NodeJS.Timeout | null = null;
  private registryPort: number | null = null;
  private stopping: Promise<void> | null = null;
  private resolveStopped: () => void = () => {};
  /** Resolves once the cluster has stopped (by stop(), a signal, or the admin API). */
  readonly stopped: Promise<void>;

  constructor(private readonly options: MasterOptions) {
    const { config } = options;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.stateFile = join(dirname(config.master.tokenFile), "master-state.json");
    this.registry = new Registry({ host: config.master.roothost, port: config.master.rootport, log: options.log });
    this.supervisor = this.makeSupervisor("");
  }

  private makeSupervisor(registryAddress: string): Supervisor {
    const { config, nodeCommand, log, output } = this.options;
    return new Supervisor({
      specs: config.startOrder.map((name) => ({ name, ...nodeCommand(name), env: { [MASTER_ENV]: registryAddress }, ready: "ipc" as const })),
      log,
      restart: config.master.restart,
      output,
    });
  }

  /** Start the admin API (if the config has a webport), then every node in start order. */
  async start(): Promise<{ admin: { host: string; port: number } | null; registry: { host: string; port: number } }> {
    const { config, log } = this.options;
    for (const notice of config.notices) log.info(`config: ${notice}`);
    let admin: { host: string; port: number } | null = null;
    if (config.master.webport !== null) {
      const token = await loadAdminToken(config.master.tokenFile, { create: true });
      this.admin = new AdminServer({
        host: config.master.host,
        port: config.master.webport,
        token,
        log,
        actions: {
          status: () => this.status(),
          stop: (o) => this.stop(o.deadlineMs),
          reload: () => Promise.resolve(this.reload()),
          restart: (name) => {
            if (this.options.spawn === false) return Promise.reject(new ConflictError("a --master-only master spawns nothing, so it cannot restart a node"));
            if (!this.supervisor.has(name)) return Promise.reject(new UnknownNodeError(`no node named "${name}"`));
            return this.supervisor.restart(name);
          },
        },
      });
      admin = await this.admin.listen();
      log.info("admin API listening", { address: `http://${admin.host}:${admin.port}`, tokenFile: config.master.tokenFile });
    }
    const previous = await readMasterState(this.stateFile);
    const registry = await this.listenRegistry(previous.registryPort);
    log.info("registry listening", { address: `${registry.host}:${registry.port}` });
    if (this.options.spawn === false) return { admin, registry };
    // Spawned nodes learn the registry's real port (rootport 0 picks a free one) from their environment.
    this.registryPort = registry.port;
    this.supervisor = this.makeSupervisor(`${registry.host}:${registry.port}`);
    await this.adoptSurvivors(previous.nodes);
    await this.supervisor.startAll();
    await this.savePids();
    this.pidTimer = setInterval(() => void this.savePids(), 1000);
    this.pidTimer.unref();
    return { admin, registry };
  }

  status(): { cluster: string; master: { pid: number; uptimeMs: number }; nodes: NodeStatus[] } {
    const nodes = this.options.spawn === false ? this.joinedStatus() : this.supervisor.status().map((process) => {
      const r = this.registry.report(process.name);
      return {
        ...process,
        roles: this.options.config.nodes.get(process.name)?.roles ?? [],
        connections: r?.connections ?? null,
        inFlight: r?.inFlight ?? null,
        rpcPending: r?.rpcPending ?? null,
        rpcInFlight: r?.rpcInFlight ?? null,
      };
    });
    return { cluster: this.options.config.source, master: { pid: process.pid, uptimeMs: Date.now() - this.startedAt }, nodes };
  }

  /**
   * Nodes an earlier master started that still run (they reattach to our registry by
   * themselves) are adopted, not started again: a restarted master restarts nothing.
   */
  private async adoptSurvivors(previous: NodePids): Promise<void> {
    const { config, log } = this.options;
    const alive = Object.entries(previous).filter(([name, pid]) => config.nodes.has(name) && pidAlive(pid));
    if (alive.length === 0) return;
    log.info("waiting for running nodes to reattach", { nodes: alive.map(([n]) => n).join(",") });
    const joined = (name: string, pid: number) => this.registry.report(name)?.pid === pid;
    const deadline = Date.now() + ADOPT_WAIT_MS;
    while (Date.now() < deadline && !alive.every(([name, pid]) => joined(name, pid))) await sleep(50);
    for (const [name, pid] of alive) {
      if (joined(name, pid)) this.supervisor.adopt(name, pid);
      else log.warn("a node of the last master did not reattach; starting a new one", { name, pid });
    }
  }

  /**
   * With `rootport: 0` the registry took a free port; a restarted master listens on the same one
   * again, where the previous master's nodes are trying to reattach.
   */
  private async listenRegistry(previousPort: number | null): Promise<{ host: string; port: number }> {
    const { config, log } = this.options;
    if (config.master.rootport === 0 && previousPort !== null) {
      const again = new Registry({ host: config.master.roothost, port: previousPort, log });
      try {
        const address = await again.listen();
        this.registry = again;
        return address;
      } catch {
        log.info("the last registry port is taken; using a new one", { port: previousPort });
      }
    }
    return this.registry.listen();
  }

  private async savePids(): Promise<void> {
    const nodes: NodePids = {};
    for (const s of this.supervisor.status()) if (s.pid !== null) nodes[s.name] = s.pid;
    const state: MasterState = { registryPort: this.registryPort, nodes };
    const text = JSON.stringify(state);
    if (text === this.savedPids || this.stopping !== null) return;
    this.savedPids = text;
    await writeMasterState(this.stateFile, state).catch((err: unknown) => this.options.log.warn("cannot save node pids", { error: String(err) }));
  }

  /** --master-only: what the registry knows of each configured node. */
  private joinedStatus(): NodeStatus[] {
    return this.options.config.startOrder.map((name) => {
      const r = this.registry.report(name);
      return {
        name,
        state: r ? "running" : "absent",
        pid: r?.pid ?? null,
        restarts: 0,
        uptimeMs: 0,
        lastExit: null,
        reason: r ? null : "not joined (--master-only: start it with --node and --master)",
        roles: this.options.config.nodes.get(name)?.roles ?? [],
        connections: r?.connections ?? null,
        inFlight: r?.inFlight ?? null,
        rpcPending: r?.rpcPending ?? null,
        rpcInFlight: r?.rpcInFlight ?? null,
      };
    });
  }

  /** Ask every running node to re-import its reload module. Returns which nodes were asked. */
  reload(): Record<string, "asked" | "not running"> {
    const result: Record<string, "asked" | "not running"> = {};
    for (const name of this.options.config.startOrder) {
      result[name] = this.registry.reload(name) ? "asked" : "not running";
    }
    return result;
  }

  /** Stop every node (children before roots) within the deadline, then the admin API. */
  stop(deadlineMs = this.options.config.master.stopDeadlineMs): Promise<void> {
    this.stopping ??= (async () => {
      this.options.log.info("stopping the cluster", { deadlineMs });
      if (this.pidTimer) clearInterval(this.pidTimer);
      if (this.options.spawn === false) await this.stopJoined(deadlineMs);
      else {
        await this.supervisor.stopAll(deadlineMs);
        await clearMasterState(this.stateFile);
      }
      await this.admin?.close();
      await this.registry.close();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** --master-only: ask each joined node to stop, children before roots. */
  private async stopJoined(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    for (const name of this.options.config.stopOrder) {
      if (this.registry.report(name) === undefined) continue;
      const left = Math.max(1, deadline - Date.now());
      await this.registry.stopNode(name, left).catch((err: unknown) => this.options.log.warn("node did not acknowledge stop", { name, error: String(err) }));
    }
  }
}
