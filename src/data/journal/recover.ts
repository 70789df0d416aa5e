/**
 * Open-time recovery of the last segment. A crash can only damage the end of the last segment
 * (earlier segments are fdatasync'ed before the next one is created), so a bad record there is
 * a torn tail if no valid record follows it: it is cut off. If a valid record does follow, the
 * damage is in the middle of acknowledged data and open fails with JournalCorruptError.
 */
import { open } from "node:fs/promises";
import { JournalCorruptError } from "./errors.ts";
import { readSegment } from "./reader.ts";
import { decodeRecord } from "./record.ts";

export interface Discarded {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
}

export interface RecoveredTail {
  /** Byte length of the segment after recovery. */
  end: number;
  /** Highest sequence number in the segment, or undefined if it holds no record. */
  lastSeq: number | undefined;
  discarded: Discarded | null;
}

export async function recoverTail(path: string, after: number): Promise<RecoveredTail> {
  let end = 0;
  let lastSeq: number | undefined;
  for await (const item of readSegment(path, after)) {
    if (item.kind === "record") {
      end = item.end;
      lastSeq = item.seq;
      continue;
    }
    const fh = await open(path, "r+");
    try {
      const rest = Buffer.alloc((await fh.stat()).size - item.offset);
      await fh.read(rest, 0, rest.length, item.offset);
      if (validRecordAfter(rest, lastSeq ?? after)) throw new JournalCorruptError(path, item.offset, item.reason);
      await fh.truncate(item.offset);
      await fh.datasync();
      return { end, lastSeq, discarded: { segment: path, offset: item.offset, bytes: rest.length, reason: item.reason } };
    } finally {
      await fh.close();
    }
  }
  return { end, lastSeq, discarded: null };
}

/** Whether a checksum-valid record numbered above `after` starts anywhere after byte 0 of `rest`. */
function validRecordAfter(rest: Buffer, after: number): boolean {
  for (let at = 1; at < rest.length; at++) {
    const d = decodeRecord(rest, at);
    if (d.kind === "record" && d.seq > after) return true;
  }
  return false;
}
