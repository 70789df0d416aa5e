/** Markdown for the fan-out section, and where it goes in docs/benchmarks.md. */
import { FANOUT_BODY, FANOUT_HEADER } from "./fanout-wire.ts";
import { FANOUT_TARGETS, type BroadcastRow, type ChannelRow, type FanoutResult, type FanoutSettings } from "./fanout.ts";
import { machine, type DocMarkers } from "./report.ts";

export const FANOUT_MARKERS: DocMarkers = { start: "<!-- bench:fanout:start -->", end: "<!-- bench:fanout:end -->", heading: "## Latest fan-out results" };

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n >= 100 ? int(n) : n.toFixed(n >= 10 ? 1 : 2));
const ratio = (r: number | null) => (r === null ? "—" : `**${r.toFixed(2)}**`);

/** A target mark only where the run used the target's own parameters. */
function mark(ok: boolean, applies: boolean): string {
  if (!applies) return "";
  return ok ? " ✓" : " ✗";
}

function broadcastTable(rows: readonly BroadcastRow[], s: FanoutSettings): string {
  const t = FANOUT_TARGETS;
  const applies = s.conns === t.broadcastConns;
  const head =
    `| server | connections | rounds | send loop ms | handed to kernel ms (target ≤ ${t.broadcastMs}) | server CPU ms | wall ÷ CPU | CPU µs per delivery | server deliveries/s | first client ms | median client ms | last client ms (range) | deliveries/s to the last client | ratio vs raw |\n` +
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: BroadcastRow) => {
    const held = r.held < r.conns ? ` (${int(r.held)} held)` : "";
    const missing = r.missing > 0 ? ` ⚠ ${int(r.missing)} not reached` : "";
    return `| ${r.label}${missing} | ${int(r.conns)}${held} | ${r.rounds} | ${ms(r.loopMs)} | **${ms(r.flushMs)}**${mark(r.flushMs <= t.broadcastMs, applies)} | ${ms(r.cpuMs)} | ${r.wallPerCpu.toFixed(2)}${r.wallPerCpu > 1.25 ? " ⚠" : ""} | ${r.cpuUsPerDelivery.toFixed(2)} | ${int(r.serverDeliveriesPerS)} | ${ms(r.firstMs)} | ${ms(r.p50Ms)} | **${ms(r.lastMs)}** (${ms(r.lastRange[0])}–${ms(r.lastRange[1])}) | ${int(r.deliveriesPerS)} | ${ratio(r.ratio)} |`;
  };
  return head + rows.map(line).join("\n");
}

function channelTable(rows: readonly ChannelRow[], s: FanoutSettings): string {
  const t = FANOUT_TARGETS;
  const applies = s.members === t.channelMembers && s.ratePerS === t.channelRate;
  const head =
    `| server | members | msg/s per member (sent) | s | deliveries/s | delivered % | p50 µs | p99 µs (target ≤ ${int(t.channelP99Ms * 1000)}) | max µs | server CPU % | CPU µs per delivery | send ms per tick | latest tick ms | client CPU % | other CPU % | ratio vs raw |\n` +
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: ChannelRow) => {
    const held = r.held < r.members ? ` (${int(r.held)} held)` : "";
    const other = r.otherCpuPct === null ? "—" : `${int(r.otherCpuPct)}${r.otherCpuPct > 20 ? " ⚠" : ""}`;
    return `| ${r.label} | ${int(r.members)}${held} | ${r.sentPerS.toFixed(1)} | ${r.seconds.toFixed(1)} | ${int(r.deliveriesPerS)} | ${r.deliveredPct.toFixed(1)} | ${int(r.p50Us)} | **${int(r.p99Us)}**${mark(r.p99Us <= t.channelP99Ms * 1000, applies)} | ${int(r.maxUs)} | ${int(r.serverCpuPct)} | ${r.cpuUsPerDelivery.toFixed(2)} | ${ms(r.sendMsPerTick)} | ${ms(r.maxLateMs)} | ${int(r.loaderCpuPct)} | ${other} | ${ratio(r.ratio)} |`;
  };
  return head + rows.map(line).join("\n");
}

/** The targets: met or not by the glowfly rows; the raw rows are the limit they are measured against. */
function verdict(result: FanoutResult, s: FanoutSettings): string {
  const t = FANOUT_TARGETS;
  const isRaw = (kind: string) => s.kinds.find((k) => k.kind === kind)?.baseline === null;
  const lines: string[] = [];
  if (result.broadcast.length > 0 && s.conns !== t.broadcastConns) {
    lines.push(`- ${int(t.broadcastConns)} deliveries in ≤ ${t.broadcastMs} ms server-side: not measured (this run broadcast to ${int(s.conns)} connections).`);
  } else if (result.broadcast.length > 0) {
    const rawLimit = result.broadcast.filter((r) => isRaw(r.kind)).map((r) => `${r.label} ${ms(r.flushMs)} ms`);
    const glow = result.broadcast.filter((r) => !isRaw(r.kind)).map((r) => `${r.label} **${r.flushMs <= t.broadcastMs ? "met" : "not met"}** (${ms(r.flushMs)} ms)`);
    lines.push(`- ${int(t.broadcastConns)} deliveries in ≤ ${t.broadcastMs} ms server-side: ${glow.join(", ") || "no glowfly kind measured yet"}; the raw limit in this run: ${rawLimit.join(", ") || "—"}.`);
  }
  if (result.channel.length > 0 && (s.members !== t.channelMembers || s.ratePerS !== t.channelRate)) {
    lines.push(`- p99 ≤ ${t.channelP99Ms} ms at ${int(t.channelMembers)} members × ${t.channelRate} msg/s: not measured (this run: ${int(s.members)} members × ${s.ratePerS} msg/s).`);
  } else if (result.channel.length > 0) {
    const rawLimit = result.channel.filter((r) => isRaw(r.kind)).map((r) => `${r.label} ${int(r.p99Us)} µs`);
    const glow = result.channel.filter((r) => !isRaw(r.kind)).map((r) => `${r.label} **${r.p99Us <= t.channelP99Ms * 1000 ? "met" : "not met"}** (${int(r.p99Us)} µs)`);
    lines.push(
      `- p99 ≤ ${t.channelP99Ms} ms at ${int(t.channelMembers)} members × ${t.channelRate} msg/s: ${glow.join(", ") || "no glowfly kind measured yet"}; the raw limit in this run: ${rawLimit.join(", ") || "—"}.`,
    );
  }
  return lines.join("\n");
}

export function fanoutSection(date: string, s: FanoutSettings, result: FanoutResult): string {
  const out = [
    `Run ${date} on ${machine()}.`,
    [
      `Message: ${FANOUT_HEADER}-byte header + ${FANOUT_BODY}-byte body, built once per send.`,
      ...(result.broadcast.length > 0 ? [`Broadcast: ${int(s.conns)} connections, median of ${s.rounds} round(s).`] : []),
      ...(result.channel.length > 0 ? [`Channel: ${int(s.members)} members × ${s.ratePerS} msg/s for ${s.channelMs / 1000} s.`] : []),
      `Clients in ${s.loaders} process(es). Open-file limits (soft/hard): ${result.limits}.`,
    ].join(" "),
    "",
  ];
  if (result.broadcast.length > 0) {
    const by = new Map<string, string[]>();
    for (const r of result.broadcast) by.set(r.flushBy, [...(by.get(r.flushBy) ?? []), r.label]);
    const how = [...by].map(([method, labels]) => `${method} (${labels.join(", ")})`).join("; ");
    out.push(`#### Broadcast to ${int(s.conns)} connections`, "", broadcastTable(result.broadcast, s), "", `*Handed to kernel* is timed by ${how}.`, "");
  }
  if (result.channel.length > 0) out.push(`#### Channel of ${int(s.members)} members, ${s.ratePerS} messages/s each`, "", channelTable(result.channel, s), "");
  out.push(verdict(result, s), "");
  return out.join("\n");
}
