/**
 * The journal on real files: round trips under each fsync policy, numbering across reopen,
 * group commit batching, checkpoints, back-pressure.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { basename } from "node:path";
import { crc32c } from "../../src/data/journal/crc32c.ts";
import {
  Journal,
  JournalBackpressureError,
  JournalClosedError,
  type FsyncPolicy,
} from "../../src/data/journal/index.ts";
import { payload, replayAll, segmentFiles, tempDir } from "./journal-helpers.ts";

const POLICIES: FsyncPolicy[] = ["always", { groupMs: 5 }, "off"];

test("crc32c matches the standard check values", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  const bytes = Buffer.from("a longer text, so that the 8-byte loop runs several times");
  assert.equal(crc32c(bytes.subarray(20), crc32c(bytes.subarray(0, 20))), crc32c(bytes));
});

for (const fsync of POLICIES) {
  const name = JSON.stringify(fsync);

  test(`round trip with fsync ${name}: every record back in order, across segments and reopen`, async (t) => {
    const dir = await tempDir(t);
    const sizes = Array.from({ length: 300 }, (_, i) => (i * 37) % 300); // includes empty payloads
    const journal = await Journal.open(dir, { fsync, segmentBytes: 4096 });
    const seqs = await Promise.all(sizes.map((size, i) => journal.append(payload(i, size).subarray(0, size))));
    assert.deepEqual(seqs, sizes.map((_, i) => i + 1));
    await journal.close();
    assert.ok((await segmentFiles(dir)).length > 5, "small segments roll over");

    const again = await Journal.open(dir, { fsync, segmentBytes: 4096 });
    t.after(() => again.close());
    assert.equal(again.discarded, null);
    const records = await replayAll(again);
    assert.deepEqual(records.map((r) => r.seq), seqs);
    records.forEach((r, i) => assert.deepEqual(Buffer.from(r.payload), payload(i, sizes[i]).subarray(0, sizes[i])));
    assert.equal(await again.append(payload(300)), 301, "numbering continues after the last record");
    assert.deepEqual((await replayAll(again, 299)).map((r) => r.seq), [299, 300, 301], "replay(from) starts at from");
  });
}

test("numbering keeps increasing across reopen even when everything was checkpointed", async (t) => {
  const dir = await tempDir(t);
  let journal = await Journal.open(dir, { fsync: "always", segmentBytes: 1024 });
  for (let i = 1; i <= 40; i++) assert.equal(await journal.append(payload(i)), i);
  await journal.checkpoint(40);
  await journal.close();
  journal = await Journal.open(dir, { fsync: "always", segmentBytes: 1024 });
  assert.deepEqual(await replayAll(journal), []);
  assert.equal(await journal.append(payload(41)), 41);
  await journal.close();
  journal = await Journal.open(dir);
  t.after(() => journal.close());
  assert.deepEqual((await replayAll(journal)).map((r) => r.seq), [41]);
  assert.equal(await journal.append(payload(42)), 42);
});

test("group commit: concurrent appends share writes and fsyncs, at most one per groupMs", async (t) => {
  const dir = await tempDir(t);
  const groupMs = 10;
  const journal = await Journal.open(dir, { fsync: { groupMs } });
  t.after(() => journal.close());
  const started = performance.now();
  const writers = Array.from({ length: 50 }, async (_, w) => {
    for (let i = 0; i < 40; i++) await journal.append(payload(w * 1000 + i));
  });
  await Promise.all(writers);
  const elapsed = performance.now() - started;
  const s = journal.stats;
  assert.equal(s.appends, 2000);
  assert.equal(s.syncs, s.writes, "one fsync per batch write");
  assert.ok(s.syncs * 20 <= s.appends, `${s.syncs} fsyncs for ${s.appends} appends`);
  // Timers may fire a little early against performance.now(): allow 10 %.
  assert.ok(s.syncs <= elapsed / (groupMs * 0.9) + 1, `${s.syncs} fsyncs in ${elapsed.toFixed(0)} ms`);
  assert.equal(s.unsyncedBytes, 0);
});

test("fsync always: each append resolves after an fsync that covers it; appends of one turn share it", async (t) => {
  const dir = await tempDir(t);
  const journal = await Journal.open(dir, { fsync: "always" });
  t.after(() => journal.close());
  for (let i = 1; i <= 5; i++) await journal.append(payload(i));
  assert.equal(journal.stats.syncs, 5, "one at a time: one fsync each");
  await Promise.all(Array.from({ length: 100 }, (_, i) => journal.append(payload(i))));
  assert.equal(journal.stats.syncs, 6, "a burst in one turn: one write, one fsync");
  assert.equal(journal.stats.writes, 6);
});

test("checkpoint deletes whole segments at or below it; replay after reopen starts after it", async (t) => {
  const dir = await tempDir(t);
  const journal = await Journal.open(dir, { fsync: "always", segmentBytes: 1000 }); // 10 records of 100 bytes each
  for (let i = 1; i <= 95; i++) await journal.append(payload(i));
  const before = await segmentFiles(dir);
  assert.equal(before.length, 10);
  await journal.checkpoint(64);
  const after = await segmentFiles(dir);
  assert.deepEqual(after.map((p) => Number(basename(p, ".seg"))), [61, 71, 81, 91], "segments 1..60 deleted, 61..70 kept (holds 65..70)");
  assert.deepEqual((await replayAll(journal)).map((r) => r.seq), range(65, 95));
  await journal.checkpoint(10); // lower: no effect
  await assert.rejects(journal.checkpoint(96), RangeError);
  await journal.close();

  const again = await Journal.open(dir, { segmentBytes: 1000 });
  t.after(() => again.close());
  assert.equal(again.stats.checkpoint, 64);
  const records = await replayAll(again);
  assert.deepEqual(records.map((r) => r.seq), range(65, 95));
  assert.deepEqual(Buffer.from(records[0]!.payload), payload(65));
  await again.checkpoint(95);
  assert.deepEqual((await segmentFiles(dir)).map((p) => Number(basename(p, ".seg"))), [91], "the segment being appended to stays");
  assert.deepEqual(await replayAll(again), []);
});

test("back-pressure: beyond maxUnsyncedBytes append rejects at once, and accepts again once earlier appends are durable", async (t) => {
  const dir = await tempDir(t);
  const journal = await Journal.open(dir, { fsync: { groupMs: 50 }, maxUnsyncedBytes: 1000 });
  t.after(() => journal.close());
  await journal.append(payload(0)); // after this, the next batch waits for the 50 ms cadence
  const accepted = Array.from({ length: 10 }, (_, i) => journal.append(payload(i + 1))); // 10 × 100 bytes: exactly the limit
  assert.equal(journal.stats.unsyncedBytes, 1000);
  const err = await journal.append(payload(11)).then(
    () => assert.fail("accepted beyond the limit"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof JournalBackpressureError);
  assert.equal(err.unsyncedBytes, 1000);
  assert.equal(err.limit, 1000);
  assert.deepEqual(await Promise.all(accepted), range(2, 11), "the rejected append took no sequence number");
  assert.equal(journal.stats.unsyncedBytes, 0);
  assert.equal(await journal.append(payload(12)), 12);
  await assert.rejects(journal.append(Buffer.alloc(1000)), RangeError, "a record that can never fit is a RangeError");
});

test("close flushes what was appended; later appends and checkpoints are refused", async (t) => {
  const dir = await tempDir(t);
  const journal = await Journal.open(dir, { fsync: { groupMs: 1000 } });
  await journal.append(payload(0)); // the next batch is due in 1 s
  const pending = Array.from({ length: 20 }, (_, i) => journal.append(payload(i + 1)));
  const started = performance.now();
  await journal.close();
  assert.ok(performance.now() - started < 500, "close flushes at once instead of waiting out the group window");
  assert.deepEqual(await Promise.all(pending), range(2, 21));
  await assert.rejects(journal.append(payload(22)), JournalClosedError);
  await assert.rejects(journal.checkpoint(1), JournalClosedError);
  const again = await Journal.open(dir);
  t.after(() => again.close());
  assert.equal((await replayAll(again)).length, 21);
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
