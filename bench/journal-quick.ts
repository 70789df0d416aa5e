/**
 * Quick journal numbers (not a timed test, not part of `npm run bench`):
 * appends/s under each fsync policy, one writer at a time and 64 concurrent writers, and the
 * time to open + replay 100,000 records of ~100 bytes.
 * Usage: node --import tsx bench/journal-quick.ts [folder]   (default: a temp folder)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal, JournalBackpressureError, type FsyncPolicy } from "../src/data/journal/index.ts";

const RUN_MS = 2000;
const PAYLOAD = Buffer.alloc(100, 120);

async function appendRate(dir: string, fsync: FsyncPolicy, writers: number): Promise<string> {
  const journal = await Journal.open(dir, { fsync });
  const deadline = performance.now() + RUN_MS;
  let acked = 0;
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        await journal.append(PAYLOAD);
        acked++;
      } catch (err) {
        if (!(err instanceof JournalBackpressureError)) throw err;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  const seconds = (performance.now() - started) / 1000;
  const s = journal.stats;
  await journal.close();
  return `| ${JSON.stringify(fsync)} | ${writers} | ${Math.round(acked / seconds)} | ${Math.round(s.syncs / seconds)} | ${(s.appends / Math.max(1, s.writes)).toFixed(1)} |`;
}

async function replayTime(dir: string, count: number): Promise<string> {
  const journal = await Journal.open(dir, { fsync: "off" });
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, count - i) }, () => journal.append(PAYLOAD)));
  }
  await journal.close();
  const started = performance.now();
  const reopened = await Journal.open(dir);
  const opened = performance.now();
  let n = 0;
  let bytes = 0;
  for await (const r of reopened.replay()) {
    n++;
    bytes += r.payload.length;
  }
  const done = performance.now();
  await reopened.close();
  if (n !== count) throw new Error(`replayed ${n} of ${count}`);
  return `open ${(opened - started).toFixed(0)} ms + replay ${(done - opened).toFixed(0)} ms for ${n} records (${(bytes / 1e6).toFixed(1)} MB of payload): ${Math.round(n / ((done - started) / 1000))} records/s`;
}

async function main(): Promise<void> {
  const base = process.argv[2] ?? (await mkdtemp(join(tmpdir(), "glowfly-journal-bench-")));
  try {
    process.stdout.write(`journal in ${base}, ${PAYLOAD.length}-byte payloads, ${RUN_MS} ms per row\n\n`);
    process.stdout.write("| fsync | writers | appends/s | fsyncs/s | appends per write |\n|---|---|---|---|---|\n");
    let run = 0;
    for (const fsync of ["always", { groupMs: 5 }, "off"] as FsyncPolicy[]) {
      for (const writers of [1, 64]) {
        process.stdout.write(`${await appendRate(join(base, `rate-${run++}`), fsync, writers)}\n`);
      }
    }
    process.stdout.write(`\nreplay: ${await replayTime(join(base, "replay"), 100_000)}\n`);
  } finally {
    if (process.argv[2] === undefined) await rm(base, { recursive: true, force: true });
  }
}

await main();
