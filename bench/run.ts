/**
 * Benchmark orchestrator. Every server and the load generator run in processes of their own;
 * this one only drives them: the closed-loop echo cells (bench/throughput.ts), then memory per
 * idle connection (bench/idle.ts), then fan-out (bench/fanout.ts: broadcast and channel load,
 * server and clients in processes of their own). The data-layer section (bench/data.ts) runs
 * last, in this process (it measures a library). Prints markdown; --write also updates
 * docs/benchmarks.md.
 * Options: see USAGE in bench/options.ts.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Child, killAll } from "./child.ts";
import { dataBench, dataSettings } from "./data.ts";
import { dataSection } from "./data-report.ts";
import { fanout, fanoutSettings } from "./fanout.ts";
import { FANOUT_MARKERS, fanoutSection } from "./fanout-report.ts";
import { idle } from "./idle.ts";
import { coresBusy, machineSample, QuietGate } from "./machine.ts";
import { parseOptions } from "./options.ts";
import { DATA_MARKERS, forwardedTable, forwardedVerdict, idleTable, resultsSection, throughputTable, writeDoc, type Settings } from "./report.ts";
import { throughput } from "./throughput.ts";

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const settings: Settings = { warmupMs: o.warmupMs, measureMs: o.measureMs, rounds: o.rounds, payload: o.payload };
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  process.stderr.write(`glowfly bench: warm-up ${o.warmupMs} ms, measure ${o.measureMs} ms, ${o.rounds} round(s), C=${o.clients.join(",")}\n`);
  const gate = new QuietGate(o.waitQuietS);
  const busy = await gate.settle();
  if (busy !== null && busy > 0.25) {
    settings.note = `⚠ At the start, other processes kept ${busy.toFixed(2)} cores busy; see "other CPU %".`;
    process.stderr.write(`warning: ${settings.note}\n`);
  }
  const doc = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
  const wantsNet = o.only === null || o.only.some((kind) => kind !== "data" && kind !== "fanout");
  const wantsData = o.data && (o.only === null || o.only.includes("data"));
  const wantsFanout = o.fanout && (o.only === null || o.only.includes("fanout"));
  const data = wantsData ? dataSettings(o) : null; // options checked before anything runs
  const fan = wantsFanout ? fanoutSettings(o) : null;
  if (wantsNet) {
    const loadgen = await Child.start("loadgen", "./loadgen.ts");
    try {
      const load = o.load ? await throughput(o, loadgen, gate) : null;
      const idleRows = o.idle ? await idle(o, loadgen, gate) : null;
      const forwarded = load === null || load.forwarded.length === 0 ? null : `${forwardedTable(load.forwarded)}\n\n${forwardedVerdict(load.forwarded)}`;
      const section = resultsSection(
        date,
        settings,
        load && throughputTable(load.rows),
        forwarded,
        idleRows === null || idleRows.length === 0 ? null : idleTable(idleRows, o.idleCount),
      );
      process.stdout.write(`\n## glowfly benchmarks\n\n${section}\n`);
      if (o.write) {
        writeDoc(doc, section);
        process.stderr.write(`updated ${doc}\n`);
      }
    } finally {
      await loadgen.stop();
      killAll();
    }
  }
  if (fan !== null) {
    const fanDate = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const started = performance.now();
    try {
      const section = fanoutSection(fanDate, fan, await fanout(fan, gate));
      process.stderr.write(`fan-out section took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      process.stdout.write(`\n## glowfly fan-out\n\n${section}\n`);
      if (o.write) {
        writeDoc(doc, section, FANOUT_MARKERS);
        process.stderr.write(`updated ${doc} (fan-out)\n`);
      }
    } finally {
      killAll();
    }
  }
  if (data !== null) {
    if ((wantsNet || fan !== null) && gate.waits) await gate.settle();
    const dataDate = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const m0 = machineSample();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const result = await dataBench(data);
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpu0);
    const machineBusy = coresBusy(m0, machineSample());
    const other = machineBusy === null ? null : Math.max(0, machineBusy - (cpu.user + cpu.system) / 1000 / wallMs);
    process.stderr.write(`data section took ${(wallMs / 1000).toFixed(1)} s\n`);
    const note =
      other === null ? undefined : `Other processes kept ${other.toFixed(2)} of ${cpus().length} cores busy on average during this section${other > 0.25 ? " ⚠ (a noisy machine: compare ratios, not absolute figures)" : ""}.`;
    const section = dataSection(dataDate, result, note);
    process.stdout.write(`\n## glowfly data layer\n\n${section}\n`);
    if (o.write) {
      writeDoc(doc, section, DATA_MARKERS);
      process.stderr.write(`updated ${doc} (data layer)\n`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
process.on("exit", killAll);

try {
  await main();
} catch (err) {
  killAll();
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
