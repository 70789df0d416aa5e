/**
 * The fan-out section: for every server kind of bench/fanout-kinds.ts, in a server process of
 * its own, with the clients spread over `loaders` client processes (bench/fanout-loader.ts):
 *
 * - broadcast: N connections (10,000) get one message, `rounds` times; per round the server
 *   reports its send loop, the time until every write was handed to the kernel and its CPU;
 *   the clients report each connection's arrival after the send time (one shared clock);
 * - channel load: M connections (1,000) each get R messages/s (100) for D ms (10 s), every
 *   message stamped with its send time; the clients histogram the delays.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Child } from "./child.ts";
import { FANOUT_KINDS, type FanoutKind } from "./fanout-kinds.ts";
import { MergingHistogram, type ArrivalResult, type BroadcastResult, type ChannelResult, type LatencyResult } from "./fanout-wire.ts";
import { coresBusy, machineSample, type QuietGate } from "./machine.ts";
import type { Options } from "./options.ts";
import type { CpuSample } from "./rpc.ts";
import { waitConns } from "./targets.ts";

/** The issue's targets (they apply to glowfly; the raw rows show the limit). */
export const FANOUT_TARGETS = {
  /** Server-side time of one broadcast … */
  broadcastMs: 10,
  /** … to this many sessions. */
  broadcastConns: 10_000,
  /** p99 delivery latency at the channel load … */
  channelP99Ms: 20,
  /** … of this many members receiving this many messages/s each. */
  channelMembers: 1_000,
  channelRate: 100,
} as const;

/** Open files a process needs beyond its sockets (stdio, pipes, tsx, epoll, …). */
const FD_MARGIN = 200;
/** A broadcast whose wall time exceeds its CPU time by this factor (plus 1 ms) was preempted. */
const PREEMPTED = 1.25;
/** With --wait-quiet, a preempted broadcast round is measured again, this many times at most. */
const MAX_ATTEMPTS = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface FanoutSettings {
  kinds: FanoutKind[];
  conns: number;
  rounds: number;
  members: number;
  ratePerS: number;
  channelMs: number;
  loaders: number;
  /** Run each server process under --cpu-prof (bench/.profiles/fanout-<kind>/). */
  profile: boolean;
}

export function fanoutSettings(o: Options): FanoutSettings {
  const kinds = o.fanoutKinds === null ? [...FANOUT_KINDS] : o.fanoutKinds.map((k) => FANOUT_KINDS.find((f) => f.kind === k) ?? unknownKind(k));
  if (o.fanoutRate <= 0) throw new Error("--fanout-rate must be above 0");
  return { kinds, conns: o.fanoutConns, rounds: o.fanoutRounds, members: o.fanoutMembers, ratePerS: o.fanoutRate, channelMs: o.fanoutMs, loaders: o.fanoutLoaders, profile: o.profile };
}

function unknownKind(kind: string): never {
  throw new Error(`--fanout-kinds: unknown kind ${kind} (known: ${FANOUT_KINDS.map((f) => f.kind).join(", ")})`);
}

export interface BroadcastRow {
  label: string;
  kind: string;
  conns: number;
  held: number;
  rounds: number;
  /** Medians over rounds. */
  loopMs: number;
  flushMs: number;
  flushBy: string;
  cpuMs: number;
  /** flushMs ÷ CPU ms: about 1 when the server had a core to itself. */
  wallPerCpu: number;
  cpuUsPerDelivery: number;
  /** sent ÷ flushMs. */
  serverDeliveriesPerS: number;
  firstMs: number;
  p50Ms: number;
  /** Send → the last client has it. */
  lastMs: number;
  lastRange: [number, number];
  /** received ÷ lastMs. */
  deliveriesPerS: number;
  /** Most connections a round did not reach within the wait. */
  missing: number;
  /** Baseline CPU per delivery ÷ this one's (1.00: no more CPU than the raw server). */
  ratio: number | null;
}

export interface ChannelRow {
  label: string;
  kind: string;
  members: number;
  held: number;
  ratePerS: number;
  seconds: number;
  /** Messages the server sent to each member, per second. */
  sentPerS: number;
  deliveriesPerS: number;
  deliveredPct: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  serverCpuPct: number;
  cpuUsPerDelivery: number;
  /** The server's send calls, mean ms per tick. */
  sendMsPerTick: number;
  maxLateMs: number;
  loaderCpuPct: number;
  otherCpuPct: number | null;
  ratio: number | null;
}

export interface FanoutResult {
  broadcast: BroadcastRow[];
  channel: ChannelRow[];
  /** Open-file limits found (soft/hard) per process role, for the report. */
  limits: string;
}

interface Limit {
  soft: number;
  hard: number;
}

/** Fail early, with the fix, when a process may not hold the sockets it is about to hold. */
function checkFiles(child: Child, sockets: number): string {
  const limit = child.ready.nofile as Limit | null;
  if (limit === null) return `${child.name}: unknown`;
  const need = sockets + FD_MARGIN;
  if (limit.soft < need) {
    throw new Error(
      `${child.name} may open ${limit.soft} files (hard limit ${limit.hard}) and needs about ${need} for ${sockets} sockets. ` +
        `Raise the hard limit of the shell that runs the bench (ulimit -Hn; as root: ulimit -n ${need * 2}; in Docker: --ulimit nofile=${need * 2}), ` +
        `or pass a smaller --fanout-conns${child.name.startsWith("fanout-loader") ? " or more --fanout-loaders" : ""}.`,
    );
  }
  return `${child.name} ${limit.soft}/${limit.hard}`;
}

/** Client sockets to 127.0.0.1 need local ports; fail when the range cannot hold them. */
function checkPorts(conns: number): void {
  try {
    const [lo = 0, hi = 0] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (hi - lo + 1 < conns) throw new Error(`the local port range ${lo}–${hi} holds fewer than ${conns} client sockets (sysctl net.ipv4.ip_local_port_range)`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("the local port range")) throw err;
  }
}

interface Opened {
  held: number[];
  total: number;
}

/** Spread `count` connections over the loaders and wait until the server counts them. */
async function openAll(loaders: readonly Child[], server: Child, kind: FanoutKind, count: number): Promise<Opened> {
  const port = (server.ready.ports as { main: number }).main;
  let first = 0;
  const calls = loaders.map((loader, i) => {
    const n = Math.floor(count / loaders.length) + (i < count % loaders.length ? 1 : 0);
    const firstIndex = first;
    first += n;
    return loader.call<{ held: number; failed: number; firstError: string | null; ms: number }>("open", { wire: kind.wire, port, count: n, firstIndex });
  });
  const opened = await Promise.all(calls);
  for (const o of opened) if (o.failed > 0) process.stderr.write(`  fan-out ${kind.label}: ${o.failed} connections failed (${o.firstError})\n`);
  const held = opened.map((o) => o.held);
  const total = held.reduce((a, b) => a + b, 0);
  const seen = await waitConns(() => server.call<number>("conns"), (n) => n >= total);
  if (seen < total) process.stderr.write(`  fan-out ${kind.label}: the server counts ${seen} of ${total} connections\n`);
  process.stderr.write(`  fan-out ${kind.label}: ${total} connections open in ${(Math.max(...opened.map((o) => o.ms)) / 1000).toFixed(1)} s\n`);
  return { held, total };
}

async function closeAll(loaders: readonly Child[], server: Child): Promise<void> {
  await Promise.all(loaders.map((l) => l.call("close")));
  await waitConns(() => server.call<number>("conns"), (n) => n === 0);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** A server's profile lands in bench/.profiles/fanout-<kind>/ (written when the process exits). */
function profileFlags(kind: FanoutKind): string[] {
  return ["--cpu-prof", `--cpu-prof-dir=${fileURLToPath(new URL(`./.profiles/fanout-${kind.kind}`, import.meta.url))}`];
}

let nextRound = 1;

async function broadcastRounds(s: FanoutSettings, kind: FanoutKind, server: Child, loaders: readonly Child[], gate: QuietGate): Promise<BroadcastRow> {
  const { total } = await openAll(loaders, server, kind, s.conns);
  const rounds: { loopMs: number; flushMs: number; flushBy: string; cpuUs: number; sent: number; received: number; firstMs: number; p50Ms: number; lastMs: number }[] = [];
  try {
    for (let r = 0; r < s.rounds; r++) {
      for (let attempt = 1; ; attempt++) {
        if (gate.waits) await gate.settle();
        else await sleep(200); // let the previous round's reads drain
        const round = nextRound++;
        await Promise.all(loaders.map((l) => l.call("arm", { round })));
        const b = await server.call<BroadcastResult>("broadcast", { round });
        const arrivals = await Promise.all(loaders.map((l) => l.call<ArrivalResult>("wait", { round, sentAt: b.sentAt, timeoutMs: 10_000 })));
        const delays = new MergingHistogram();
        for (const a of arrivals) delays.add(a.histogram);
        const received = arrivals.reduce((sum, a) => sum + a.received, 0);
        const row = { ...b, received, firstMs: delays.quantile(0) / 1000, p50Ms: delays.quantile(0.5) / 1000, lastMs: delays.max / 1000 };
        // The send is one synchronous loop: wall time well above its CPU time means another process had the core.
        const preempted = row.flushMs > (row.cpuUs / 1000) * PREEMPTED + 1;
        process.stderr.write(
          `  fan-out ${kind.label} broadcast ${r + 1}/${s.rounds}: loop ${row.loopMs.toFixed(2)} ms, to kernel ${row.flushMs.toFixed(2)} ms, CPU ${(row.cpuUs / 1000).toFixed(2)} ms, ` +
            `last client ${row.lastMs.toFixed(2)} ms (${received}/${total})${preempted ? " — preempted" : ""}\n`,
        );
        if (!gate.waits || !preempted || attempt === MAX_ATTEMPTS) {
          rounds.push(row);
          break;
        }
      }
    }
  } finally {
    await closeAll(loaders, server);
  }
  const lastMs = median(rounds.map((r) => r.lastMs));
  const sent = median(rounds.map((r) => r.sent));
  const flushMs = median(rounds.map((r) => r.flushMs));
  const cpuUs = median(rounds.map((r) => r.cpuUs));
  return {
    label: kind.label,
    kind: kind.kind,
    conns: s.conns,
    held: total,
    rounds: rounds.length,
    loopMs: median(rounds.map((r) => r.loopMs)),
    flushMs,
    flushBy: rounds[0]?.flushBy ?? "",
    cpuMs: cpuUs / 1000,
    wallPerCpu: median(rounds.map((r) => r.flushMs / Math.max(0.001, r.cpuUs / 1000))),
    cpuUsPerDelivery: median(rounds.map((r) => r.cpuUs / Math.max(1, r.sent))),
    serverDeliveriesPerS: flushMs > 0 ? sent / (flushMs / 1000) : 0,
    firstMs: median(rounds.map((r) => r.firstMs)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    lastMs,
    lastRange: [Math.min(...rounds.map((r) => r.lastMs)), Math.max(...rounds.map((r) => r.lastMs))],
    deliveriesPerS: median(rounds.map((r) => (r.lastMs > 0 ? r.received / (r.lastMs / 1000) : 0))),
    missing: Math.max(0, ...rounds.map((r) => total - r.received)),
    ratio: null,
  };
}

async function channelLoad(s: FanoutSettings, kind: FanoutKind, server: Child, loaders: readonly Child[], gate: QuietGate): Promise<ChannelRow> {
  const { held, total } = await openAll(loaders, server, kind, s.members);
  try {
    if (gate.waits) await gate.settle();
    await Promise.all(loaders.map((l) => l.call("latencyStart")));
    const m0 = machineSample();
    const cpu0 = await Promise.all(loaders.map((l) => l.call<CpuSample>("cpu")));
    const c = await server.call<ChannelResult>("channel", { ratePerS: s.ratePerS, durationMs: s.channelMs }, s.channelMs + 60_000);
    const cpu1 = await Promise.all(loaders.map((l) => l.call<CpuSample>("cpu")));
    const machineCores = coresBusy(m0, machineSample());
    const reads = await Promise.all(loaders.map((l, i) => l.call<LatencyResult>("latencyRead", { expect: c.messages * held[i]!, timeoutMs: 3000 })));
    const delays = new MergingHistogram();
    for (const r of reads) delays.add(r.histogram);
    const received = reads.reduce((sum, r) => sum + r.received, 0);
    const serverCores = c.cpuUs / 1000 / c.wallMs;
    const loaderCores = cpu1.reduce((sum, end, i) => sum + (end.cpuUs - cpu0[i]!.cpuUs) / 1000 / (end.wallMs - cpu0[i]!.wallMs), 0);
    const expected = c.messages * c.members;
    const row: ChannelRow = {
      label: kind.label,
      kind: kind.kind,
      members: s.members,
      held: total,
      ratePerS: s.ratePerS,
      seconds: c.wallMs / 1000,
      sentPerS: c.messages / (c.wallMs / 1000),
      deliveriesPerS: received / (c.wallMs / 1000),
      deliveredPct: expected === 0 ? 0 : (received / expected) * 100,
      p50Us: delays.quantile(0.5),
      p99Us: delays.quantile(0.99),
      maxUs: delays.max,
      serverCpuPct: serverCores * 100,
      cpuUsPerDelivery: received === 0 ? 0 : c.cpuUs / received,
      sendMsPerTick: c.messages === 0 ? 0 : c.sendMs / c.messages,
      maxLateMs: c.maxLateMs,
      loaderCpuPct: loaderCores * 100,
      otherCpuPct: machineCores === null ? null : Math.max(0, machineCores - serverCores - loaderCores) * 100,
      ratio: null,
    };
    process.stderr.write(
      `  fan-out ${kind.label} channel: ${Math.round(row.deliveriesPerS)} deliveries/s (${row.deliveredPct.toFixed(1)}%), p50 ${row.p50Us} µs, p99 ${row.p99Us} µs, max ${Math.round(row.maxUs)} µs, server ${Math.round(row.serverCpuPct)}% CPU\n`,
    );
    return row;
  } finally {
    await closeAll(loaders, server);
  }
}

export async function fanout(s: FanoutSettings, gate: QuietGate): Promise<FanoutResult> {
  checkPorts(Math.max(s.conns, s.members));
  const perLoader = Math.ceil(Math.max(s.conns, s.members) / s.loaders);
  // Every process starts at once (tsx start-up is most of a small run); an idle server waits its turn.
  const starting = await Promise.allSettled([
    ...Array.from({ length: s.loaders }, (_, i) => Child.start(`fanout-loader${i + 1}`, "./fanout-loader.ts")),
    ...s.kinds.map((kind) => Child.start(`fanout-${kind.kind}`, kind.script, s.profile ? profileFlags(kind) : [], kind.args)),
  ]);
  const started = starting.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const broadcast: BroadcastRow[] = [];
  const channel: ChannelRow[] = [];
  const limits = new Set<string>();
  try {
    for (const r of starting) if (r.status === "rejected") throw r.reason;
    const loaders = started.slice(0, s.loaders);
    const servers = started.slice(s.loaders);
    for (const loader of loaders) limits.add(checkFiles(loader, perLoader));
    for (const server of servers) limits.add(checkFiles(server, Math.max(s.conns, s.members)));
    for (const [i, kind] of s.kinds.entries()) {
      const server = servers[i]!;
      try {
        if (s.rounds > 0 && s.conns > 0) broadcast.push(await broadcastRounds(s, kind, server, loaders, gate));
        if (s.channelMs > 0 && s.members > 0) channel.push(await channelLoad(s, kind, server, loaders, gate));
      } finally {
        await server.stop();
      }
    }
  } finally {
    await Promise.all(started.map((c) => c.stop()));
  }
  for (const kind of s.kinds) {
    if (kind.baseline === null) continue;
    const own = broadcast.find((r) => r.kind === kind.kind);
    const base = broadcast.find((r) => r.kind === kind.baseline);
    if (own !== undefined && base !== undefined && own.cpuUsPerDelivery > 0) own.ratio = base.cpuUsPerDelivery / own.cpuUsPerDelivery;
    const ownC = channel.find((r) => r.kind === kind.kind);
    const baseC = channel.find((r) => r.kind === kind.baseline);
    if (ownC !== undefined && baseC !== undefined && ownC.cpuUsPerDelivery > 0) ownC.ratio = baseC.cpuUsPerDelivery / ownC.cpuUsPerDelivery;
  }
  return { broadcast, channel, limits: [...limits].join(", ") };
}
