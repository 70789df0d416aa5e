/**
 * Idle capacity: memory per idle connection. Each kind gets a fresh server process, sampled
 * after gc before and after the load generator opens `idleCount` idle connections (handshaken
 * where the protocol has a handshake).
 */
import type { Child } from "./child.ts";
import type { QuietGate } from "./machine.ts";
import type { Options } from "./options.ts";
import type { TargetKind } from "./protocols.ts";
import type { IdleRow } from "./report.ts";
import type { MemSample } from "./rpc.ts";
import { portOf, spec, startServer, waitConns, type OpenResult } from "./targets.ts";

const IDLE_KINDS: readonly TargetKind[] = ["raw-net", "native", "raw-ws", "glowfly-ws"];

export async function idle(o: Options, loadgen: Child, gate: QuietGate): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  for (const kind of IDLE_KINDS) {
    if (o.only !== null && !o.only.includes(kind)) continue;
    const target = spec(kind);
    if (target.server === "forwarded") continue;
    if (gate.waits) await gate.settle();
    const server = await startServer(target.server);
    try {
      const before = await server.call<MemSample>("mem");
      const opened = await loadgen.call<OpenResult>("open", {
        kind,
        port: portOf(target, server),
        count: o.idleCount,
        batch: 500,
        timeoutMs: 15_000,
        totalTimeoutMs: 180_000,
      });
      if (opened.failed > 0) process.stderr.write(`  idle ${target.label}: ${opened.failed} failed (${opened.firstError})\n`);
      await waitConns(() => server.call<number>("conns"), (n) => n >= opened.held);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await server.call<MemSample>("mem");
      await loadgen.call("close");
      const per = (field: keyof MemSample) => (opened.held === 0 ? 0 : (after[field] - before[field]) / opened.held / 1024);
      rows.push({
        label: target.label,
        kind,
        held: opened.held,
        failed: opened.failed,
        rssKiB: per("rss"),
        heapKiB: per("heapUsed"),
        externalKiB: per("external"),
        openMs: opened.ms,
        ratio: null,
        heapRatio: null,
      });
      process.stderr.write(`  idle ${target.label}: ${opened.held} held, ${per("rss").toFixed(1)} KiB RSS, ${per("heapUsed").toFixed(2)} KiB heap each\n`);
    } finally {
      await server.stop();
    }
  }
  for (const row of rows) {
    const baseline = spec(row.kind).baseline;
    const raw = rows.find((r) => r.kind === baseline);
    if (raw === undefined) continue;
    if (raw.rssKiB > 0) row.ratio = row.rssKiB / raw.rssKiB;
    if (raw.heapKiB > 0) row.heapRatio = row.heapKiB / raw.heapKiB;
  }
  return rows;
}
