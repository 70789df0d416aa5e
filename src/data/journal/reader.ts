/** Reads a segment file record by record, in chunks, stopping at the first bad record. */
import { open } from "node:fs/promises";
import { decodeRecord } from "./record.ts";

const CHUNK_BYTES = 1024 * 1024;

export type SegmentItem =
  | { kind: "record"; seq: number; payload: Buffer; offset: number; end: number }
  /** The record at `offset` is truncated, fails its checksum, or is out of sequence. Last item. */
  | { kind: "bad"; offset: number; reason: string };

/**
 * Yields the records of the segment at `path` up to byte `limit` (default: end of file).
 * Every record's seq must be above `after` and above the one before it. Payloads are views
 * into read buffers that are never reused.
 */
export async function* readSegment(path: string, after: number, limit = Infinity): AsyncGenerator<SegmentItem> {
  const fh = await open(path, "r");
  try {
    let size = Math.min(limit, (await fh.stat()).size);
    let buf = Buffer.alloc(0);
    let base = 0; // file offset of buf[0]
    let at = 0; // position in buf of the next record
    let prev = after;
    for (;;) {
      const d = decodeRecord(buf, at);
      if (d.kind === "record") {
        if (d.seq <= prev) {
          yield { kind: "bad", offset: base + at, reason: `sequence number ${d.seq} does not follow ${prev}` };
          return;
        }
        yield { kind: "record", seq: d.seq, payload: d.payload, offset: base + at, end: base + d.end };
        prev = d.seq;
        at = d.end;
        continue;
      }
      if (d.kind === "bad") {
        yield { kind: "bad", offset: base + at, reason: d.reason };
        return;
      }
      const readPos = base + buf.length;
      if (readPos >= size) {
        if (base + at < size) {
          yield { kind: "bad", offset: base + at, reason: `truncated: record needs ${d.need} bytes, ${size - base - at} left` };
        }
        return;
      }
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(CHUNK_BYTES, d.need), size - readPos));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, readPos);
      if (bytesRead === 0) size = readPos; // the file shrank under us: treat what we have as the end
      buf = Buffer.concat([buf.subarray(at), chunk.subarray(0, bytesRead)]);
      base += at;
      at = 0;
    }
  } finally {
    await fh.close();
  }
}
