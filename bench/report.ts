/** Markdown tables for the bench results, and the update of docs/benchmarks.md. */
import { cpus, totalmem } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { FORWARDED_TARGETS, HOPS, type ForwardedRow } from "./forwarded.ts";
import type { TargetKind } from "./protocols.ts";

export interface ThroughputRow {
  label: string;
  kind: string;
  clients: number;
  held: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  /** Sum over the server's processes. */
  serverCpuPct: number;
  /** Each server process, % of a core (one entry for a single-process server). */
  processCpuPct: { name: string; pct: number }[];
  cpuUsPerReq: number;
  rpsPerCore: number;
  loadgenCpuPct: number;
  /** Machine CPU outside server and load generator (other processes, kernel softirq), % of a core. */
  otherCpuPct: number | null;
  errors: number;
  /** glowfly req/s per core ÷ the raw baseline's, same transport and client count (medians). */
  ratio: number | null;
  /** Lowest and highest ratio of single rounds. */
  ratioRange: [number, number] | null;
}

export interface IdleRow {
  label: string;
  kind: TargetKind;
  held: number;
  failed: number;
  rssKiB: number;
  heapKiB: number;
  externalKiB: number;
  openMs: number;
  /** RSS and heap per connection ÷ the raw baseline's. */
  ratio: number | null;
  heapRatio: number | null;
}

export interface Settings {
  warmupMs: number;
  measureMs: number;
  rounds: number;
  payload: number;
  /** A warning printed under the run line (e.g. the machine was busy). */
  note?: string;
}

/** Rows with more "other CPU %" than this are flagged. */
const BUSY_FLAG_PCT = 20;

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (n: number, digits: number) => n.toFixed(digits);
const orDash = (n: number | null, digits: number) => (n === null ? "—" : fixed(n, digits));

function ratioCell(r: ThroughputRow): string {
  if (r.ratio === null) return "—";
  const range = r.ratioRange === null ? "" : ` (${fixed(r.ratioRange[0], 2)}–${fixed(r.ratioRange[1], 2)})`;
  return `**${fixed(r.ratio, 2)}**${range}`;
}

const otherCell = (pct: number | null) => (pct === null ? "—" : `${int(pct)}${pct > BUSY_FLAG_PCT ? " ⚠" : ""}`);
const rangeCell = (r: [number, number] | null, f: (n: number) => string) => (r === null ? "" : ` (${f(r[0])}–${f(r[1])})`);
const mark = (ok: boolean) => (ok ? " ✓" : " ✗");

export function machine(): string {
  const cpu = cpus();
  const model = cpu[0]?.model.trim() ?? "unknown cpu";
  return `${model}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform} ${process.arch}`;
}

export function throughputTable(rows: readonly ThroughputRow[]): string {
  const head =
    "| server | C | req/s | p50 µs | p99 µs | p99.9 µs | server CPU % | CPU µs/req | req/s per server core | ratio vs raw | loadgen CPU % | other CPU % |\n" +
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: ThroughputRow) => {
    const held = r.held < r.clients ? ` (${r.held} held)` : "";
    const errs = r.errors > 0 ? ` ⚠ ${r.errors} bad replies` : "";
    const other = otherCell(r.otherCpuPct);
    return `| ${r.label}${errs} | ${r.clients}${held} | ${int(r.rps)} | ${int(r.p50)} | ${int(r.p99)} | ${int(r.p999)} | ${int(r.serverCpuPct)} | ${fixed(r.cpuUsPerReq, 1)} | ${int(r.rpsPerCore)} | ${ratioCell(r)} | ${int(r.loadgenCpuPct)} | ${other} |`;
  };
  return head + rows.map(line).join("\n");
}

export function forwardedTable(rows: readonly ForwardedRow[]): string {
  const t = FORWARDED_TARGETS;
  const head =
    `| path | C | req/s | p50 µs | p99 µs | p99.9 µs | net CPU % | gate CPU % | game1 CPU % | req/s per total server core | ratio vs raw net (target ≥ ${fixed(t.minRatio, 2)}) | raw net req/s per server core | direct glowfly tcp native req/s per server core (ratio vs raw) | direct p50 µs | added p50 per hop µs (target ≤ ${int(t.maxHopP50Us)} at C = ${t.hopClients}) | loadgen CPU % | other CPU % |\n` +
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (f: ForwardedRow) => {
    const r = f.row;
    const held = r.held < r.clients ? ` (${r.held} held)` : "";
    const errs = r.errors > 0 ? ` ⚠ ${r.errors} bad replies` : "";
    const cpu = (name: string) => {
      const p = r.processCpuPct.find((c) => c.name === name);
      return p === undefined ? "—" : int(p.pct);
    };
    const ratio = `**${fixed(f.ratio, 2)}**${rangeCell(f.ratioRange, (n) => fixed(n, 2))}${mark(f.ratio >= t.minRatio)}`;
    const hopTarget = f.clients === t.hopClients ? mark(f.hopP50 <= t.maxHopP50Us) : "";
    const hop = `**${int(f.hopP50)}**${rangeCell(f.hopRange, int)}${hopTarget}`;
    return `| glowfly forwarded${errs} | ${r.clients}${held} | ${int(r.rps)} | ${int(r.p50)} | ${int(r.p99)} | ${int(r.p999)} | ${cpu("net")} | ${cpu("gate")} | ${cpu("game1")} | ${int(r.rpsPerCore)} | ${ratio} | ${int(f.raw.rpsPerCore)} | ${int(f.direct.rpsPerCore)} (${fixed(f.directRatio, 2)}) | ${int(f.direct.p50)} | ${hop} | ${int(r.loadgenCpuPct)} | ${otherCell(r.otherCpuPct)} |`;
  };
  return head + rows.map(line).join("\n");
}

/** One line per target: met or not, at the client count it applies to. */
export function forwardedVerdict(rows: readonly ForwardedRow[]): string {
  const t = FORWARDED_TARGETS;
  const ratios = rows.map((f) => `${fixed(f.ratio, 2)} at C = ${int(f.clients)}`).join(", ");
  const ratioMet = rows.every((f) => f.ratio >= t.minRatio);
  const lines = [`- req/s per total server core ≥ ${fixed(t.minRatio, 2)}× raw net: **${ratioMet ? "met" : "not met"}** (${ratios}).`];
  const hop = rows.find((f) => f.clients === t.hopClients);
  lines.push(
    hop === undefined
      ? `- added p50 per hop ≤ ${int(t.maxHopP50Us)} µs at C = ${t.hopClients}: not measured in this run.`
      : `- added p50 per hop ≤ ${int(t.maxHopP50Us)} µs at C = ${t.hopClients}: **${hop.hopP50 <= t.maxHopP50Us ? "met" : "not met"}** (${int(hop.hopP50)} µs: the median over rounds of (forwarded p50 − direct p50) ÷ ${HOPS} hops).`,
  );
  return lines.join("\n");
}

export function idleTable(rows: readonly IdleRow[], wanted: number): string {
  const head =
    `| server | held of ${int(wanted)} | RSS KiB/conn | heap KiB/conn | external KiB/conn | RSS ratio vs raw | heap ratio vs raw | open time s |\n` +
    "|---|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: IdleRow) =>
    `| ${r.label} | ${int(r.held)}${r.failed > 0 ? ` (${r.failed} failed)` : ""} | ${fixed(r.rssKiB, 1)} | ${fixed(r.heapKiB, 2)} | ${fixed(r.externalKiB, 2)} | ${orDash(r.ratio, 2)} | ${orDash(r.heapRatio, 2)} | ${fixed(r.openMs / 1000, 1)} |`;
  return head + rows.map(line).join("\n");
}

export function resultsSection(date: string, s: Settings, throughput: string | null, forwarded: string | null, idle: string | null): string {
  const rounds = s.rounds > 1 ? `, median of ${s.rounds} interleaved rounds (ratio range over rounds in brackets)` : "";
  return [
    `Run ${date} on ${machine()}.`,
    `Warm-up ${s.warmupMs / 1000} s, measured ${s.measureMs / 1000} s per cell${rounds}, ${s.payload}-byte payload.`,
    ...(s.note === undefined ? [] : ["", s.note]),
    "",
    ...(throughput === null ? [] : ["### Closed-loop echo", "", throughput, ""]),
    ...(forwarded === null ? [] : ["### Forwarded path (client → net → gate → game1 → back)", "", forwarded, ""]),
    ...(idle === null ? [] : ["### Idle connections", "", idle, ""]),
  ].join("\n");
}

/** Where a section's results go in docs/benchmarks.md, and the heading to add when its markers are missing. */
export interface DocMarkers {
  start: string;
  end: string;
  heading: string;
}

export const RESULTS_MARKERS: DocMarkers = { start: "<!-- bench:results:start -->", end: "<!-- bench:results:end -->", heading: "## Latest results" };
export const DATA_MARKERS: DocMarkers = { start: "<!-- bench:data:start -->", end: "<!-- bench:data:end -->", heading: "## Latest data-layer results" };

/** Replace the results between the markers of docs/benchmarks.md (create the file if missing). */
export function writeDoc(path: string, section: string, markers: DocMarkers = RESULTS_MARKERS): void {
  const { start: START, end: END, heading } = markers;
  const block = `${START}\n${section}\n${END}`;
  if (!existsSync(path)) {
    writeFileSync(path, `# Benchmarks\n\nRun \`npm run bench -- --write\` to refresh.\n\n${heading}\n\n${block}\n`);
    return;
  }
  const doc = readFileSync(path, "utf8");
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  const next =
    start >= 0 && end > start ? doc.slice(0, start) + block + doc.slice(end + END.length) : `${doc.trimEnd()}\n\n${heading}\n\n${block}\n`;
  writeFileSync(path, next);
}
