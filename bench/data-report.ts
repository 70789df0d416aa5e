/** Markdown tables and target verdicts for the data-layer section (bench/data.ts). */
import { DATA_TARGETS, TARGET_BACKENDS, type DataResult, type ReadRow, type ReplayRow, type UpdateRow, type WriteBackRow } from "./data.ts";
import { machine } from "./report.ts";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const us = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n));
const mark = (ok: boolean) => (ok ? " ✓" : " ✗");
const NAMES: Record<string, string> = { sqlite: "SQLite", postgres: "PostgreSQL", mysql: "MariaDB" };
const name = (dialect: string) => NAMES[dialect] ?? dialect;

export function readsTable(rows: readonly ReadRow[]): string {
  const head =
    `| backend | rows | SQL reads | µs per SQL read | cached gets | µs per cached get | ratio (target ≥ ${DATA_TARGETS.minReadRatio}×) |\n` + "|---|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: ReadRow) =>
    r.skipped !== null
      ? `| ${name(r.backend)} | ${int(r.rows)} | ${r.skipped} | | | | |`
      : `| ${name(r.backend)} | ${int(r.rows)} | ${int(r.sqlReads)} | ${us(r.sqlUs)} | ${int(r.cachedReads)} | ${us(r.cachedUs)} | **${int(r.ratio)}×**${mark(r.ratio >= DATA_TARGETS.minReadRatio)} |`;
  return head + rows.map(line).join("\n");
}

export function updatesTable(rows: readonly UpdateRow[]): string {
  const head =
    "| SQLite, durability | writers | updates/s | µs per acknowledged update (mean) | p50 µs | p99 µs | CPU µs per update | fsyncs/s |\n" + "|---|--:|--:|--:|--:|--:|--:|--:|\n";
  const line = (r: UpdateRow) =>
    `| ${r.policy} | ${r.writers} | ${int(r.updatesPerS)} | ${us(r.meanUs)} | ${int(r.p50Us)} | ${int(r.p99Us)} | ${us(r.cpuUs)} | ${int(r.fsyncsPerS)} |`;
  return head + rows.map(line).join("\n");
}

const counts = (backend: string) => TARGET_BACKENDS.includes(backend as (typeof TARGET_BACKENDS)[number]);

export function writeBackTable(rows: readonly WriteBackRow[]): string {
  const head =
    `| backend | dirty rows | flush ms | rows/s (target ≥ ${int(DATA_TARGETS.minWriteBackRowsPerS)}) | of which in applyBatch | node CPU % during flush |\n` + "|---|---|--:|--:|--:|--:|\n";
  const line = (r: WriteBackRow) => {
    const what = `${int(r.rows)} ${r.kind === "update" ? "updates (2 columns, distinct rows)" : "creates"}`;
    if (r.skipped !== null) return `| ${name(r.backend)} | ${what} | ${r.skipped} | | | |`;
    const target = counts(r.backend) ? mark(r.rowsPerS >= DATA_TARGETS.minWriteBackRowsPerS) : " (info)";
    return `| ${name(r.backend)} | ${what} | ${int(r.ms)} | **${int(r.rowsPerS)}**${target} | ${int((100 * r.applyBatchMs) / r.ms)} % | ${int(r.cpuPct)} |`;
  };
  return head + rows.map(line).join("\n");
}

export function replayTable(rows: readonly ReplayRow[]): string {
  const head = "| backend | pending changes | journal open ms | replay ms | rows/s (open + replay) | node CPU % during replay |\n" + "|---|--:|--:|--:|--:|--:|\n";
  const line = (r: ReplayRow) =>
    r.skipped !== null
      ? `| ${name(r.backend)} | ${int(r.changes)} | ${r.skipped} | | | |`
      : `| ${name(r.backend)} | ${int(r.changes)} | ${int(r.journalOpenMs)} | ${int(r.replayMs)} | ${int(r.rowsPerS)} | ${int(r.cpuPct)} |`;
  return head + rows.map(line).join("\n");
}

export function dataVerdict(result: DataResult): string {
  const measuredReads = result.reads.filter((r) => r.skipped === null);
  const reads = measuredReads.map((r) => `${name(r.backend)} ${int(r.ratio)}×`).join(", ");
  const readsMet = measuredReads.length > 0 && measuredReads.every((r) => r.ratio >= DATA_TARGETS.minReadRatio);
  const lines = [
    measuredReads.length === 0
      ? `- cached get ≥ ${DATA_TARGETS.minReadRatio}× a SQL read: not measured in this run.`
      : `- cached get ≥ ${DATA_TARGETS.minReadRatio}× a SQL read: **${readsMet ? "met" : "not met"}** (${reads}).`,
  ];
  for (const backend of TARGET_BACKENDS) {
    const rows = result.writeBack.filter((r) => r.backend === backend);
    const what = `- write-back ≥ ${int(DATA_TARGETS.minWriteBackRowsPerS)} rows/s to ${name(backend)}`;
    if (rows.length === 0 || rows.some((r) => r.skipped !== null)) {
      lines.push(`${what}: not measured${rows[0]?.skipped ? ` (${rows[0].skipped})` : ""}.`);
      continue;
    }
    const met = rows.every((r) => r.rowsPerS >= DATA_TARGETS.minWriteBackRowsPerS);
    lines.push(`${what}: **${met ? "met" : "not met"}** (${rows.map((r) => `${r.kind}s ${int(r.rowsPerS)}`).join(", ")}).`);
  }
  return lines.join("\n");
}

export function dataSection(date: string, result: DataResult, note?: string): string {
  const s = result.settings;
  return [
    `Run ${date} on ${machine()}.`,
    `${(s.cellMs / 1000).toFixed(1)} s measured per read and update cell; ${int(s.readRows)} rows read and updated; write-back of ${int(s.writeBackRows)} + ${int(s.writeBackRows)} rows; replay of ${int(s.replayChanges)} changes.`,
    ...(note === undefined ? [] : ["", note]),
    "",
    "#### Cached get vs SQL read (one row by primary key, one at a time)",
    "",
    readsTable(result.reads),
    "",
    "#### update: cost of an acknowledged change (SQLite, write-back deferred)",
    "",
    result.updates.length === 0 ? "skipped: no SQLite database" : updatesTable(result.updates),
    "",
    "#### Write-back (`cache.flush()` of N dirty rows)",
    "",
    writeBackTable(result.writeBack),
    "",
    "#### Journal replay (fresh EntityCache on a journal of pending changes)",
    "",
    replayTable(result.replay),
    "",
    dataVerdict(result),
    "",
  ].join("\n");
}
