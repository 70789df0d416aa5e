/**
 * The checkpoint file: the highest sequence number whose record is safe elsewhere.
 * 12 bytes, little-endian: u32 CRC32C of bytes 4..12, u32 seq low, u32 seq high.
 * Written to `checkpoint.tmp`, fdatasync'ed, renamed over `checkpoint`, directory fsync'ed:
 * a crash leaves either the old or the new value, never a torn one.
 */
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32c } from "./crc32c.ts";
import { JournalCorruptError } from "./errors.ts";
import { isMissing, syncDir } from "./segments.ts";

const FILE = "checkpoint";
const TWO_32 = 2 ** 32;

/** The stored checkpoint, 0 if none was ever written. */
export async function readCheckpoint(dir: string): Promise<number> {
  const path = join(dir, FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (isMissing(err)) return 0;
    throw err;
  }
  if (bytes.length !== 12 || crc32c(bytes, 0, 4) !== bytes.readUInt32LE(0)) {
    throw new JournalCorruptError(path, 0, "checkpoint file fails its checksum");
  }
  return bytes.readUInt32LE(4) + bytes.readUInt32LE(8) * TWO_32;
}

export async function writeCheckpoint(dir: string, seq: number): Promise<void> {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32LE(seq % TWO_32, 4);
  bytes.writeUInt32LE(Math.floor(seq / TWO_32), 8);
  bytes.writeUInt32LE(crc32c(bytes, 0, 4), 0);
  const tmp = join(dir, `${FILE}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(bytes);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, FILE));
  await syncDir(dir);
}
