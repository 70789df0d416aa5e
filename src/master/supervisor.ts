/**
 * The master's process supervisor: spawns one process per node, restarts crashed ones with
 * backoff, stops restarting a crash-looping node and says why, and stops everything in
 * reverse dependency order within a deadline. It knows processes, not what runs in them.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "../log/logger.ts";
import { CrashHistory, DEFAULT_RESTART_POLICY, type RestartPolicy } from "./restart-policy.ts";

export interface ProcessSpec {
  /** The node's name. */
  name: string;
  command: string;
  args: readonly string[];
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /**
   * "ipc": the child opens an IPC channel and is running once it sends `{ type: "ready" }`;
   * "spawn": running as soon as it has spawned.
   */
  ready: "ipc" | "spawn";
}

export type ProcessState = "starting" | "running" | "backoff" | "crash-loop" | "stopping" | "stopped";

export interface ProcessStatus {
  name: string;
  state: ProcessState;
  pid: number | null;
  /** Restarts after crashes since the master started. */
  restarts: number;
  /** Milliseconds since the current process became running (0 if it is not). */
  uptimeMs: number;
  /** Exit code or signal of the last exit, if any. */
  lastExit: string | null;
  /** Why the node is not running, for crash-loop and failed starts. */
  reason: string | null;
}

export interface SupervisorOptions {
  /** In start order: roots before the nodes that link to them. Stop goes in reverse. */
  specs: readonly ProcessSpec[];
  log: Logger;
  restart?: Partial<RestartPolicy>;
  /** How long a node may take to report ready (default 15 s). */
  readyTimeoutMs?: number;
  /** Where a child's output goes (default: this process's stdout/stderr, prefixed with the name). */
  output?: (name: string, stream: "stdout" | "stderr", line: string) => void;
}

/** A node process: one this supervisor spawned, or one it adopted from an earlier master. */
interface Proc {
  readonly pid: number | null;
  kill(signal: NodeJS.Signals): void;
  readonly alive: boolean;
}

/** How often an adopted process (not our child: no exit event) is checked for life. */
const ADOPTED_POLL_MS = 250;

interface Entry {
  spec: ProcessSpec;
  child: Proc | null;
  state: ProcessState;
  history: CrashHistory;
  restarts: number;
  runningSince: number;
  lastExit: string | null;
  reason: string | null;
  timer: NodeJS.Timeout | null;
  exited: Promise<void>;
}

const defaultOutput = (name: string, stream: "stdout" | "stderr", line: string): void => {
  (stream === "stdout" ? process.stdout : process.stderr).write(`[${name}] ${line}\n`);
};

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly order: string[];
  private readonly policy: RestartPolicy;
  private readonly readyTimeoutMs: number;
  private readonly output: NonNullable<SupervisorOptions["output"]>;
  private readonly log: Logger;
  private stopping = false;

  constructor(options: SupervisorOptions) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    this.readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
    this.output = options.output ?? defaultOutput;
    this.log = options.log;
    this.order = options.specs.map((s) => s.name);
    for (const spec of options.specs) {
      if (this.entries.has(spec.name)) throw new Error(`two processes are named "${spec.name}"`);
      this.entries.set(spec.name, {
        spec,
        child: null,
        state: "stopped",
        history: new CrashHistory(this.policy),
        restarts: 0,
        runningSince: 0,
        lastExit: null,
        reason: null,
        timer: null,
        exited: Promise.resolve(),
      });
    }
  }

  /** Start every node (but the adopted) in order, each after the previous one is running (or failed to start). */
  async startAll(): Promise<void> {
    for (const name of this.order) {
      const e = this.entry(name);
      if (e.child === null) await this.launch(e); // adopted ones are running already
    }
  }

  status(): ProcessStatus[] {
    const now = Date.now();
    return this.order.map((name) => {
      const e = this.entry(name);
      return {
        name,
        state: e.state,
        pid: e.child?.pid ?? null,
        restarts: e.restarts,
        uptimeMs: e.state === "running" ? now - e.runningSince : 0,
        lastExit: e.lastExit,
        reason: e.reason,
      };
    });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Stop a node gracefully and start it again; clears a crash-loop. */
  async restart(name: string, deadlineMs = 10_000): Promise<void> {
    const e = this.entry(name);
    this.cancelTimer(e);
    await this.terminate(e, Date.now() + deadlineMs);
    e.history.reset();
    e.reason = null;
    await this.launch(e);
  }

  /** Stop every node in reverse start order within the deadline; a node that outlives its share is killed. */
  async stopAll(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + deadlineMs;
    for (const e of this.entries.values()) this.cancelTimer(e);
    // Each node gets an even share of what is left, so one that ignores SIGTERM cannot use up
    // the grace of the roots stopped after it.
    const order = [...this.order].reverse();
    for (const [i, name] of order.entries()) {
      const share = (deadline - Date.now()) / (order.length - i);
      await this.terminate(this.entry(name), Date.now() + Math.max(0, share));
    }
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no node named "${name}"`);
    return e;
  }

  private cancelTimer(e: Entry): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = null;
  }

  /**
   * Take over a node process an earlier master started (same config, still running): it is
   * supervised like a child, its exit noticed by polling since it sends us no exit event.
   */
  adopt(name: string, pid: number): void {
    const e = this.entry(name);
    const proc: Proc = {
      pid,
      kill: (signal) => {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      },
      get alive() {
        return pidAlive(pid);
      },
    };
    e.child = proc;
    e.state = "running";
    e.runningSince = Date.now();
    e.exited = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (proc.alive) return;
        clearInterval(poll);
        this.exited(e, proc, "exited (adopted: exit status unknown)");
        resolve();
      }, ADOPTED_POLL_MS);
      poll.unref();
    });
    this.log.info("node adopted", { name, pid });
  }

  private async launch(e: Entry): Promise<void> {
    if (this.stopping) return;
    const { spec } = e;
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: spec.ready === "ipc" ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    });
    const proc: Proc = {
      pid: child.pid ?? null,
      kill: (signal) => child.kill(signal),
      get alive() {
        return child.exitCode === null && child.signalCode === null;
      },
    };
    e.child = proc;
    e.state = "starting";
    for (const stream of ["stdout", "stderr"] as const) {
      const source = child[stream];
      if (source) createInterface({ input: source }).on("line", (line) => this.output(spec.name, stream, line));
    }
    let resolveReady: (ok: boolean) => void = () => {};
    const ready = new Promise<boolean>((resolve) => (resolveReady = resolve));
    e.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        resolveReady(false);
        this.exited(e, proc, signal ? `signal ${signal}` : `code ${code}`);
        resolve();
      });
    });
    child.once("error", (err) => {
      this.log.error("cannot spawn node", { name: spec.name, error: err.message });
      e.reason = `cannot spawn: ${err.message}`;
    });
    child.on("message", (message: unknown) => {
      if (typeof message === "object" && message !== null && (message as { type?: unknown }).type === "ready") resolveReady(true);
    });
    if (spec.ready === "spawn") resolveReady(true);
    const timer = setTimeout(() => resolveReady(false), this.readyTimeoutMs);
    const ok = await ready;
    clearTimeout(timer);
    if (ok && e.child === proc && e.state === "starting") {
      e.state = "running";
      e.runningSince = Date.now();
      this.log.info("node running", { name: spec.name, pid: child.pid });
    } else if (e.child === proc && proc.alive && e.state === "starting") {
      e.reason = `not ready within ${this.readyTimeoutMs} ms`;
      this.log.warn("node did not report ready; killing it", { name: spec.name });
      child.kill("SIGKILL"); // counted as a crash by exited()
      await e.exited;
    }
  }

  private exited(e: Entry, proc: Proc, how: string): void {
    if (e.child !== proc) return;
    e.child = null;
    e.lastExit = how;
    if (e.state === "stopping" || this.stopping) {
      e.state = "stopped";
      return;
    }
    const delay = e.history.record(Date.now());
    if (delay === null) {
      e.state = "crash-loop";
      e.reason = `crashed ${e.history.recent} times within ${this.policy.windowMs} ms (last exit: ${e.lastExit}); not restarting`;
      this.log.error("node is crash-looping; restarts stopped", { name: e.spec.name, lastExit: e.lastExit });
      return;
    }
    e.state = "backoff";
    this.log.warn("node exited; restarting", { name: e.spec.name, exit: e.lastExit, inMs: delay });
    e.timer = setTimeout(() => {
      e.timer = null;
      e.restarts++;
      this.launch(e).catch((err: unknown) => this.log.error("restart failed", { name: e.spec.name, error: String(err) }));
    }, delay);
  }

  /** SIGTERM, wait until the deadline, then SIGKILL. */
  private async terminate(e: Entry, deadline: number): Promise<void> {
    const child = e.child;
    if (child === null || !child.alive) {
      if (e.state !== "crash-loop") e.state = "stopped";
      return;
    }
    e.state = "stopping";
    child.kill("SIGTERM");
    const exited = e.exited;
    const inTime = await Promise.race([exited.then(() => true), sleep(Math.max(0, deadline - Date.now())).then(() => false)]);
    if (!inTime) {
      this.log.warn("node did not stop by the deadline; killing it", { name: e.spec.name });
      child.kill("SIGKILL");
      await exited;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Whether a process exists (signal 0 checks without sending anything). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
