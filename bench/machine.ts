/** Whole-machine CPU use from /proc/stat (Linux), to spot other processes competing for cores. */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

export interface MachineSample {
  busy: number;
  total: number;
}

/** Cumulative busy and total jiffies of all cores, or null off Linux. */
export function machineSample(): MachineSample | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/** Cores busy between two samples (0 … number of cores). */
export function coresBusy(a: MachineSample | null, b: MachineSample | null): number | null {
  if (a === null || b === null || b.total === a.total) return null;
  return ((b.busy - a.busy) / (b.total - a.total)) * cpus().length;
}

/** Cores a machine may have busy (while nothing of ours runs) and still count as quiet. */
const QUIET_CORES = 0.25;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for other processes to leave the CPUs alone, within a budget for the whole run.
 * With a zero budget it only measures (one second).
 */
export class QuietGate {
  private budgetMs: number;

  constructor(budgetS: number) {
    this.budgetMs = budgetS * 1000;
  }

  get waits(): boolean {
    return this.budgetMs > 0;
  }

  /** Cores busy in the last second once quiet or out of budget. */
  async settle(): Promise<number | null> {
    for (;;) {
      const m0 = machineSample();
      await sleep(1000);
      const busy = coresBusy(m0, machineSample());
      if (busy === null || busy <= QUIET_CORES || this.budgetMs <= 0) return busy;
      process.stderr.write(`waiting for a quiet machine: ${busy.toFixed(2)} cores busy (${Math.round(this.budgetMs / 1000)} s of waiting left)\n`);
      await sleep(4000);
      this.budgetMs -= 5000;
    }
  }
}
