/**
 * One journal record, byte by byte (little-endian):
 *
 *   0  u32  CRC32C of bytes 4 .. end (length, sequence number and payload)
 *   4  u32  payload length N
 *   8  u32  sequence number, low 32 bits
 *  12  u32  sequence number, high 32 bits (a safe integer: < 2^53)
 *  16  N    payload
 */
import { crc32c } from "./crc32c.ts";

export const HEADER_BYTES = 16;
/** Largest payload; a length field above it is damage, not a record to allocate for. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const TWO_32 = 2 ** 32;

/** The framed record: header and payload in one buffer. */
export function encodeRecord(seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 4);
  out.writeUInt32LE(seq % TWO_32, 8);
  out.writeUInt32LE(Math.floor(seq / TWO_32), 12);
  out.set(payload, HEADER_BYTES);
  out.writeUInt32LE(crc32c(out, 0, 4), 0);
  return out;
}

export type Decoded =
  | { kind: "record"; seq: number; payload: Buffer; end: number }
  /** The buffer ends before the record does (need more bytes, or a torn tail at end of file). */
  | { kind: "short"; need: number }
  | { kind: "bad"; reason: string };

/** Decodes the record that starts at `at`. The payload is a view into `buf`, not a copy. */
export function decodeRecord(buf: Buffer, at: number): Decoded {
  if (buf.length - at < HEADER_BYTES) return { kind: "short", need: HEADER_BYTES };
  const length = buf.readUInt32LE(at + 4);
  if (length > MAX_PAYLOAD_BYTES) return { kind: "bad", reason: `length ${length} above ${MAX_PAYLOAD_BYTES}` };
  const end = at + HEADER_BYTES + length;
  if (end > buf.length) return { kind: "short", need: HEADER_BYTES + length };
  if (crc32c(buf, 0, at + 4, end) !== buf.readUInt32LE(at)) return { kind: "bad", reason: "checksum mismatch" };
  const seq = buf.readUInt32LE(at + 8) + buf.readUInt32LE(at + 12) * TWO_32;
  if (!Number.isSafeInteger(seq)) return { kind: "bad", reason: `sequence number ${seq} not a safe integer` };
  return { kind: "record", seq, payload: buf.subarray(at + HEADER_BYTES, end), end };
}
