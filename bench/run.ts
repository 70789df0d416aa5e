/**
 * Benchmark orchestrator. Every server and the load generator run in processes of their own;
 * this one only drives them: the closed-loop echo cells (bench/throughput.ts), then memory per
 * idle connection (bench/idle.ts). Prints markdown; --write also updates docs/benchmarks.md.
 * Options: see USAGE in bench/options.ts.
 */
import { fileURLToPath } from "node:url";
import { Child, killAll } from "./child.ts";
import { idle } from "./idle.ts";
import { QuietGate } from "./machine.ts";
import { parseOptions } from "./options.ts";
import { forwardedTable, forwardedVerdict, idleTable, resultsSection, throughputTable, writeDoc, type Settings } from "./report.ts";
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
      const doc = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
      writeDoc(doc, section);
      process.stderr.write(`updated ${doc}\n`);
    }
  } finally {
    await loadgen.stop();
    killAll();
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
