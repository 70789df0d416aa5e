/**
 * A session's replay buffer: its last pushes, so a client that resumes after a dropped
 * connection gets what it missed. Bounded in messages and bytes; the oldest go first. Bodies
 * are kept by reference: a broadcast's body is shared by every session that buffers it.
 */
export interface Replayed {
  seq: number;
  command: number;
  body: Uint8Array;
}

export class ReplayBuffer {
  private commands: number[] = [];
  private bodies: Uint8Array[] = [];
  /** Index of the oldest entry in the arrays (entries before it are dropped, compacted lazily). */
  private head = 0;
  private bytes = 0;
  /** Sequence number of the entry at `head`. */
  private firstSeq = 1;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.commands.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Keep the push numbered `seq` (always the next number after the previous one). */
  add(seq: number, command: number, body: Uint8Array): void {
    if (this.maxMessages === 0) {
      this.firstSeq = seq + 1;
      return;
    }
    if (this.size === 0) this.firstSeq = seq;
    this.commands.push(command);
    this.bodies.push(body);
    this.bytes += body.length;
    while (this.size > this.maxMessages || (this.bytes > this.maxBytes && this.size > 0)) this.dropOldest();
    if (this.size === 0) this.firstSeq = seq + 1;
  }

  /**
   * The pushes after `lastSeq`, in order; null if some of them are no longer buffered.
   * `latest` is the session's newest sequence number (what the buffer ends at).
   */
  since(lastSeq: number, latest: number): Replayed[] | null {
    if (lastSeq > latest || lastSeq < 0) return null;
    if (lastSeq === latest) return [];
    if (lastSeq + 1 < this.firstSeq) return null;
    const out: Replayed[] = [];
    for (let seq = lastSeq + 1; seq <= latest; seq++) {
      const at = this.head + (seq - this.firstSeq);
      out.push({ seq, command: this.commands[at]!, body: this.bodies[at]! });
    }
    return out;
  }

  private dropOldest(): void {
    this.bytes -= this.bodies[this.head]!.length;
    this.head++;
    this.firstSeq++;
    // Compact once half the arrays are dead, so memory stays proportional to what is kept.
    if (this.head > 64 && this.head * 2 > this.commands.length) {
      this.commands = this.commands.slice(this.head);
      this.bodies = this.bodies.slice(this.head);
      this.head = 0;
    }
  }
}
