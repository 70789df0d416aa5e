/**
 * The forwarded path (client → net → gate → game1 → back, three processes) against the cells
 * of the same rounds it is compared with: the raw `net` echo (req/s per server core) and the
 * direct single-node glowfly TCP native server (latency: the added p50 per hop).
 */
import type { ThroughputRow } from "./report.ts";

/** What the forwarded path should reach (printed beside the figures). */
export const FORWARDED_TARGETS = {
  /** Forwarded req/s per total server core ÷ raw `net` echo's req/s per server core. */
  minRatio: 0.4,
  /** (forwarded p50 − direct p50) ÷ 2 hops, µs … */
  maxHopP50Us: 500,
  /** … at this client count. */
  hopClients: 100,
} as const;

/** Hops the forwarded path adds over the direct one: net → gate and gate → game1. */
export const HOPS = 2;

export interface ForwardedRow {
  clients: number;
  /** The round with the median req/s per total server core. */
  row: ThroughputRow;
  /** Median raw `net` echo round (by req/s per server core). */
  raw: ThroughputRow;
  /** Median direct glowfly TCP native round. */
  direct: ThroughputRow;
  /** row.rpsPerCore ÷ raw.rpsPerCore, and its range over single rounds. */
  ratio: number;
  ratioRange: [number, number] | null;
  /** direct.rpsPerCore ÷ raw.rpsPerCore. */
  directRatio: number;
  /** Median over rounds of (forwarded p50 − direct p50) ÷ HOPS, µs, and its range. */
  hopP50: number;
  hopRange: [number, number] | null;
}

export interface ForwardedRuns {
  clients: number;
  /** One row per round, in round order, for each cell. */
  forwarded: ThroughputRow[];
  raw: ThroughputRow[];
  direct: ThroughputRow[];
}

const byRpsPerCore = (rows: readonly ThroughputRow[]): ThroughputRow => [...rows].sort((a, b) => a.rpsPerCore - b.rpsPerCore)[(rows.length - 1) >> 1]!;
const medianOf = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const range = (xs: readonly number[]): [number, number] | null => (xs.length > 1 ? [Math.min(...xs), Math.max(...xs)] : null);

export function forwardedRows(all: readonly ForwardedRuns[]): ForwardedRow[] {
  return all.map(({ clients, forwarded, raw, direct }) => {
    const row = byRpsPerCore(forwarded);
    const rawRow = byRpsPerCore(raw);
    const directRow = byRpsPerCore(direct);
    const perRoundRatio = forwarded.map((r, i) => r.rpsPerCore / raw[i]!.rpsPerCore);
    const perRoundHop = forwarded.map((r, i) => (r.p50 - direct[i]!.p50) / HOPS);
    return {
      clients,
      row,
      raw: rawRow,
      direct: directRow,
      ratio: row.rpsPerCore / rawRow.rpsPerCore,
      ratioRange: range(perRoundRatio),
      directRatio: directRow.rpsPerCore / rawRow.rpsPerCore,
      hopP50: medianOf(perRoundHop),
      hopRange: range(perRoundHop),
    };
  });
}
