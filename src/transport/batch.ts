/**
 * Frames written in one event-loop turn, encoded back to back into one buffer and handed to the
 * socket as a single write. Cheaper than cork()/uncork(), which keeps a stream entry (and a
 * Buffer view and a callback) per frame and makes a writev of many small pieces: on a busy
 * inter-node link dozens of frames leave per turn.
 *
 * `reserve(n)` hands out room at the end of the batch, where the encoder builds the frame in place.
 * Flushed bytes are never reused: the socket may hold them until the kernel takes them.
 */

/** Bytes per batch buffer; a larger frame gets a buffer of its own size. */
const BATCH_BYTES = 64 * 1024;

export class WriteBatch {
  private buffer = new Uint8Array(0);
  /** The unflushed bytes are buffer[start, used). */
  private start = 0;
  private used = 0;

  /** `write` gets each flushed run of bytes (in order). */
  constructor(private readonly write: (bytes: Uint8Array) => void) {}

  /** Bytes encoded but not yet flushed. */
  get pendingBytes(): number {
    return this.used - this.start;
  }

  /** The buffer `reserve` offsets point into (it changes when one fills up: read it after reserving). */
  get bytes(): Uint8Array {
    return this.buffer;
  }

  /** Room for one frame of `n` bytes at the end of the batch: its offset in `bytes` (uninitialised). */
  reserve(n: number): number {
    if (this.used + n > this.buffer.length) {
      this.flush();
      this.buffer = new Uint8Array(Math.max(BATCH_BYTES, n));
      this.start = this.used = 0;
    }
    const at = this.used;
    this.used += n;
    return at;
  }

  /** Hand everything encoded so far to the socket. */
  flush(): void {
    if (this.used === this.start) return;
    const bytes = this.buffer.subarray(this.start, this.used);
    this.start = this.used;
    this.write(bytes);
  }

  /** Forget what was not flushed (the socket is gone). */
  discard(): void {
    this.start = this.used;
  }
}
