/**
 * Orchestrator side of bench/rpc.ts: spawn a bench script in its own Node process (soft
 * open-file limit raised to the hard limit), send it commands, and make sure it dies with us.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Args } from "./rpc.ts";

const live = new Set<ChildProcess>();

/** Kill every child still running (SIGKILL; used on errors and at exit). */
export function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    readonly ready: Record<string, unknown>,
  ) {}

  /** Start `script` (relative to bench/) with `args` and wait for its ready line. */
  static async start(name: string, script: string, nodeFlags: readonly string[] = [], args: readonly string[] = [], timeoutMs = 30_000): Promise<Child> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const proc = spawn(
      "bash",
      ["-c", 'ulimit -Sn "$(ulimit -Hn)" && exec "$@"', name, process.execPath, "--import", "tsx", "--expose-gc", ...nodeFlags, path, ...args],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    live.add(proc);
    const lines = createInterface({ input: proc.stdout });
    let child: Child | null = null;
    return new Promise<Child>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${name} did not start within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        proc.kill("SIGKILL");
        reject(err);
      };
      proc.on("exit", (code, signal) => {
        live.delete(proc);
        if (child === null) fail(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
        else child.gone(`${name} exited (code ${code}, signal ${signal})`);
      });
      lines.on("line", (line) => {
        let msg: { ready?: boolean; id?: number; result?: unknown; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          process.stderr.write(`[${name}] ${line}\n`);
          return;
        }
        if (child === null && msg.ready === true) {
          clearTimeout(timer);
          child = new Child(name, proc, msg);
          resolve(child);
        } else if (child !== null && typeof msg.id === "number") {
          child.settle(msg.id, msg.result, msg.error);
        }
      });
    });
  }

  /** Send a command and wait for its answer. */
  async call<T>(cmd: string, args: Args = {}, timeoutMs = 300_000): Promise<T> {
    if (this.exited) throw new Error(`${this.name} is not running`);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.proc.stdin!.write(JSON.stringify({ id, cmd, args }) + "\n");
    });
  }

  /** Ask the child to exit (so a --cpu-prof profile gets written); kill it if it does not. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    this.call("exit", {}, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private settle(id: number, result: unknown, error: string | undefined): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    if (error !== undefined) pending.reject(new Error(`${this.name}: ${error}`));
    else pending.resolve(result);
  }

  private gone(why: string): void {
    this.exited = true;
    for (const pending of this.pending.values()) pending.reject(new Error(why));
    this.pending.clear();
  }
}
