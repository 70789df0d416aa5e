/**
 * Frame memory: slab views never overlap and stay valid, big requests get their own buffer,
 * and the big-endian helpers agree with DataView.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ByteSlab, readU32, writeU32 } from "../../src/index.ts";

test("slab views are disjoint, 8-byte aligned and keep their bytes after the slab moves on", () => {
  const slab = new ByteSlab();
  const views: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const n = 1 + ((i * 37) % 300);
    const view = slab.alloc(n);
    assert.equal(view.length, n);
    assert.equal(view.byteOffset % 8, 0);
    view.fill(i & 0xff);
    views.push(view);
  }
  // 200 views of up to 300 bytes span several 8 KiB slabs; none was overwritten by a later one.
  views.forEach((view, i) => assert.ok(view.every((b) => b === (i & 0xff)), `view ${i} kept its bytes`));
  const buffers = new Set(views.map((v) => v.buffer));
  assert.ok(buffers.size > 1, "the slab was replaced when full");
});

test("a request above the pooled size gets a buffer of its own", () => {
  const slab = new ByteSlab();
  const small = slab.alloc(16);
  const big = slab.alloc(64 * 1024);
  assert.equal(big.length, 64 * 1024);
  assert.notEqual(big.buffer, small.buffer);
  assert.equal(big.byteOffset, 0);
  assert.equal(slab.alloc(16).buffer, small.buffer, "small requests keep using the slab");
});

test("writeU32/readU32 are big-endian like DataView, over the whole u32 range", () => {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  for (const value of [0, 1, 255, 256, 0x1234_5678, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
    writeU32(bytes, 3, value);
    assert.equal(view.getUint32(3), value);
    assert.equal(readU32(bytes, 3), value);
  }
});
