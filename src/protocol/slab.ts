/**
 * Frame memory for encoders. `new Uint8Array(n)` creates a fresh ArrayBuffer each time, which
 * costs several times what the rest of a small frame's encoding does; a slab hands out views
 * of one larger buffer instead (as Node's Buffer pool does, but browser-safe). Views are never
 * reused, so a frame stays valid however long a socket holds it; a slab is freed when its last
 * view is. Only small frames come from the slab, so a long-held one pins at most SLAB_BYTES.
 */

/** Bytes per slab. */
const SLAB_BYTES = 8 * 1024;
/** Larger allocations get their own buffer. */
const MAX_POOLED = 1024;

/** Where an encoder gets the bytes of a frame (a ByteSlab, or a write batch that builds frames in place). */
export interface FrameAllocator {
  /** `n` bytes, uninitialised (the encoder writes every byte). */
  alloc(n: number): Uint8Array;
}

export class ByteSlab implements FrameAllocator {
  private slab = new Uint8Array(0);
  private used = 0;

  /** `n` bytes, uninitialised (callers write every byte). */
  alloc(n: number): Uint8Array {
    if (n > MAX_POOLED) return new Uint8Array(n);
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const start = this.used;
    // Keep views 8-byte aligned, as typed-array views of the slab may be wanted by callers.
    this.used = (start + n + 7) & ~7;
    return this.slab.subarray(start, start + n);
  }
}

/** Big-endian u32 at `offset` (no DataView allocated per frame). */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}
