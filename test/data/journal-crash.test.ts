/**
 * SIGKILL in the middle of heavy write traffic: after a restart, every append the writer saw
 * acknowledged replays exactly once, in order, with its own payload. Unacknowledged records at
 * the tail may or may not be there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Journal, type FsyncPolicy } from "../../src/data/journal/index.ts";
import { payload, replayAll, segmentFiles, tempDir } from "./journal-helpers.ts";

const WRITER = fileURLToPath(new URL("./journal-writer.ts", import.meta.url));

for (const fsync of ["always", { groupMs: 5 }, "off"] as FsyncPolicy[]) {
  test(`SIGKILL mid-traffic with fsync ${JSON.stringify(fsync)}: every acknowledged append replays exactly once`, async (t) => {
    const dir = await tempDir(t);
    const acked = new Map<number, number>(); // seq → id, over both runs
    for (let run = 0; run < 2; run++) {
      // Two runs into the same journal: the second starts from what the first's crash left.
      const thisRun = await writeUntilKilled(dir, fsync);
      for (const [seq, id] of thisRun) {
        assert.ok(!acked.has(seq), `seq ${seq} acknowledged again after the restart`);
        acked.set(seq, id);
      }
      const journal = await Journal.open(dir);
      const records = await replayAll(journal);
      await journal.close();
      const cut = journal.discarded === null ? "no torn tail" : `torn tail cut (${journal.discarded.bytes} bytes)`;
      t.diagnostic(`run ${run}: ${thisRun.size} acknowledged, ${records.length - acked.size} more replayed, ${cut}, ${(await segmentFiles(dir)).length} segments`);
      const seqs = records.map((r) => r.seq);
      const bySeq = new Map(records.map((r) => [r.seq, r.payload]));
      assert.equal(bySeq.size, records.length, "no sequence number twice");
      seqs.forEach((s, i) => assert.equal(s, i + 1, "replay is in order, without gaps"));
      let missing = 0;
      for (const [seq, id] of acked) {
        const got = bySeq.get(seq);
        if (got === undefined) missing++;
        else assert.deepEqual(Buffer.from(got), payload(id, 40 + (id % 200)), `payload of seq ${seq}`);
      }
      assert.equal(missing, 0, "acknowledged appends missing after the crash");
    }
  });
}

/** Runs the writer child until it has acknowledged a few thousand appends, SIGKILLs it, returns seq → id. */
async function writeUntilKilled(dir: string, fsync: FsyncPolicy): Promise<Map<number, number>> {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, JSON.stringify(fsync)], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit");
  const acked = new Map<number, number>();
  let killAt = Infinity;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === "ready") continue;
    const [seq, id] = line.split(" ").map(Number) as [number, number];
    assert.ok(!acked.has(seq), `seq ${seq} acknowledged twice`);
    acked.set(seq, id);
    // Kill at a point that varies from run to run, once traffic is well under way.
    if (acked.size === 500) killAt = 500 + Math.floor(Math.random() * 3000);
    if (acked.size === killAt) child.kill("SIGKILL");
  }
  const [code, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, "SIGKILL", `writer exited by itself (code ${code})`);
  return acked;
}
