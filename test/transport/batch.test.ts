/**
 * WriteBatch: frames built in place come out as contiguous runs, in order, and bytes already
 * handed to the socket are never written over.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteBatch } from "../../src/transport/batch.ts";

/** Reserve `n` bytes, fill them with `value`, and return a view of them. */
function put(batch: WriteBatch, n: number, value: number): Uint8Array {
  const at = batch.reserve(n);
  const view = batch.bytes.subarray(at, at + n);
  view.fill(value);
  return view;
}

function collect(): { batch: WriteBatch; runs: Uint8Array[]; bytes: () => number[] } {
  const runs: Uint8Array[] = [];
  const batch = new WriteBatch((run) => runs.push(run));
  return { batch, runs, bytes: () => runs.flatMap((r) => [...r]) };
}

test("frames allocated in one turn leave as one run, in order", () => {
  const { batch, runs, bytes } = collect();
  for (let i = 1; i <= 5; i++) put(batch, 3, i);
  assert.equal(batch.pendingBytes, 15);
  assert.equal(runs.length, 0, "nothing is written before flush");
  batch.flush();
  assert.equal(runs.length, 1);
  assert.deepEqual(bytes(), [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]);
  batch.flush();
  assert.equal(runs.length, 1, "an empty flush writes nothing");
});

test("a full buffer is flushed before the next frame; flushed runs keep their bytes", () => {
  const { batch, runs } = collect();
  const frames: Uint8Array[] = [];
  // 40 frames of 4 KiB overflow the 64 KiB buffer twice.
  for (let i = 0; i < 40; i++) {
    frames.push(put(batch, 4096, i));
  }
  batch.flush();
  assert.ok(runs.length >= 3, `got ${runs.length} runs`);
  const all = runs.flatMap((r) => [...r]);
  assert.equal(all.length, 40 * 4096);
  for (let i = 0; i < 40; i++) assert.equal(all[i * 4096], i, `frame ${i} is in place`);
  frames.forEach((f, i) => assert.ok(f.every((b) => b === i), `frame ${i} was not overwritten`));
});

test("a frame larger than the buffer is written whole; discard drops what was not flushed", () => {
  const { batch, runs } = collect();
  put(batch, 10, 1);
  put(batch, 200 * 1024, 2);
  batch.flush();
  assert.deepEqual(
    runs.map((r) => r.length),
    [10, 200 * 1024],
  );
  put(batch, 7, 3);
  batch.discard();
  batch.flush();
  assert.equal(runs.length, 2);
  assert.equal(batch.pendingBytes, 0);
});
