/**
 * The closed-loop echo cells: for each client count and target, connect, warm up, then measure
 * the load generator's replies and the server's CPU over the same window. Every cell is run
 * `rounds` times, interleaved, and the median round (by req/s per server core) is reported.
 */
import type { Child } from "./child.ts";
import type { QuietGate } from "./machine.ts";
import { coresBusy, machineSample } from "./machine.ts";
import type { Options } from "./options.ts";
import { forwardedRows, type ForwardedRow } from "./forwarded.ts";
import type { ThroughputRow } from "./report.ts";
import { FORWARDED_COMPARED, spec, startTarget, TARGETS, waitConns, type OpenResult, type Server, type TargetSpec } from "./targets.ts";

/** A cell with more "other CPU %" than this was disturbed by other processes. */
export const BUSY_OTHER_PCT = 20;
const MAX_ATTEMPTS = 3;

interface LoadRead {
  requests: number;
  errors: number;
  wallMs: number;
  cpuUs: number;
  p50: number;
  p99: number;
  p999: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measureCell(target: TargetSpec, server: Server, loadgen: Child, clients: number, o: Options): Promise<ThroughputRow> {
  const port = server.port(target.port);
  const opened = await loadgen.call<OpenResult>("open", { kind: target.kind, port, count: clients, payload: o.payload });
  if (opened.failed > 0) process.stderr.write(`  ${target.label} C=${clients}: ${opened.failed} connections failed (${opened.firstError})\n`);
  await loadgen.call("start");
  await sleep(o.warmupMs);
  const m0 = machineSample();
  const [cpu0] = await Promise.all([server.cpu(), loadgen.call("mark")]);
  await sleep(o.measureMs);
  const [cpu1, load] = await Promise.all([server.cpu(), loadgen.call<LoadRead>("read")]);
  const machineCores = coresBusy(m0, machineSample());
  await loadgen.call("close");
  await waitConns(() => server.conns(), (n) => n === 0);

  const rps = load.requests / (load.wallMs / 1000);
  // Each process's CPU seconds ÷ its wall seconds; a multi-process server's cores add up.
  const processCores = cpu1.map((end, i) => (end.cpuUs - cpu0[i]!.cpuUs) / 1000 / (end.wallMs - cpu0[i]!.wallMs));
  const serverCores = processCores.reduce((a, b) => a + b, 0);
  const loadgenCores = load.cpuUs / 1000 / load.wallMs;
  return {
    label: target.label,
    kind: target.kind,
    clients,
    held: opened.held,
    rps,
    p50: load.p50,
    p99: load.p99,
    p999: load.p999,
    serverCpuPct: serverCores * 100,
    processCpuPct: processCores.map((c, i) => ({ name: server.processes[i]!, pct: c * 100 })),
    cpuUsPerReq: (serverCores * 1e6) / rps,
    rpsPerCore: rps / serverCores,
    loadgenCpuPct: loadgenCores * 100,
    otherCpuPct: machineCores === null ? null : Math.max(0, machineCores - serverCores - loadgenCores) * 100,
    errors: load.errors,
    ratio: null,
    ratioRange: null,
  };
}

/** Measure one cell; on a shared machine, redo it when other processes competed with it. */
async function measureQuietly(target: TargetSpec, server: Server, loadgen: Child, clients: number, o: Options, gate: QuietGate): Promise<ThroughputRow> {
  for (let attempt = 1; ; attempt++) {
    if (gate.waits) await gate.settle();
    const row = await measureCell(target, server, loadgen, clients, o);
    const other = row.otherCpuPct ?? 0;
    const parts = row.processCpuPct.length > 1 ? ` (${row.processCpuPct.map((p) => `${p.name} ${Math.round(p.pct)}%`).join(", ")})` : "";
    process.stderr.write(
      `  ${target.label} C=${clients}: ${Math.round(row.rps)} req/s, p50 ${Math.round(row.p50)} µs, ${Math.round(row.rpsPerCore)} per server core, server ${Math.round(row.serverCpuPct)}% CPU${parts}, other ${Math.round(other)}%\n`,
    );
    if (!gate.waits || other <= BUSY_OTHER_PCT || attempt === MAX_ATTEMPTS) return row;
  }
}

const median = (rows: ThroughputRow[]): ThroughputRow => [...rows].sort((a, b) => a.rpsPerCore - b.rpsPerCore)[(rows.length - 1) >> 1]!;

export interface ThroughputResult {
  /** The single-process cells, for the main table. */
  rows: ThroughputRow[];
  /** The forwarded path against the raw and direct cells of the same rounds. */
  forwarded: ForwardedRow[];
}

/** The targets `--only` selects; a forwarded cell brings the cells it is compared with. */
function selected(o: Options): TargetSpec[] {
  if (o.only === null) return [...TARGETS];
  const wanted = new Set(o.only);
  if (wanted.has("forwarded")) for (const kind of FORWARDED_COMPARED) wanted.add(kind);
  return TARGETS.filter((t) => wanted.has(t.kind));
}

export async function throughput(o: Options, loadgen: Child, gate: QuietGate): Promise<ThroughputResult> {
  const targets = selected(o);
  const servers = new Map<string, Server>();
  const runs = new Map<string, ThroughputRow[]>();
  const key = (kind: string, clients: number) => `${kind}/${clients}`;
  try {
    for (const t of targets) if (!servers.has(t.server)) servers.set(t.server, await startTarget(t.server, o.profile));
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) process.stderr.write(`round ${round} of ${o.rounds}\n`);
      for (const clients of o.clients) {
        for (const t of targets) {
          const row = await measureQuietly(t, servers.get(t.server)!, loadgen, clients, o, gate);
          const list = runs.get(key(t.kind, clients)) ?? [];
          list.push(row);
          runs.set(key(t.kind, clients), list);
        }
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }

  const rows: ThroughputRow[] = [];
  for (const clients of o.clients) {
    for (const t of targets) {
      if (t.kind === "forwarded") continue;
      const row = median(runs.get(key(t.kind, clients))!);
      const base = t.baseline === null ? undefined : runs.get(key(spec(t.baseline).kind, clients));
      if (base !== undefined) {
        row.ratio = row.rpsPerCore / median(base).rpsPerCore;
        const own = runs.get(key(t.kind, clients))!;
        const perRound = own.map((r, i) => r.rpsPerCore / base[i]!.rpsPerCore);
        if (perRound.length > 1) row.ratioRange = [Math.min(...perRound), Math.max(...perRound)];
      }
      rows.push(row);
    }
  }
  const forwarded = targets.some((t) => t.kind === "forwarded")
    ? forwardedRows(o.clients.map((clients) => ({ clients, forwarded: runs.get(key("forwarded", clients))!, raw: runs.get(key("raw-net", clients))!, direct: runs.get(key("native", clients))! })))
    : [];
  return { rows, forwarded };
}
