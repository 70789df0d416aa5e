/**
 * Calls waiting for their replies on one link. Bounded; every entry leaves the table exactly
 * once — by its reply, its timeout or the link closing — so nothing leaks (G-Firefly kept
 * timed-out entries forever).
 *
 * Timeouts share one timer per table instead of one per call (a timer costs about as much as
 * the rest of a forwarded hop). Calls made with the same timeout expire in the order they were
 * made, so each distinct timeout keeps a FIFO of deadlines and only its head is ever checked.
 */
import type { MessageType } from "../protocol/index.ts";
import type { RpcError } from "./errors.ts";

/** A call's reply frame: a Response or an Error. */
export type ReplyType = typeof MessageType.Response | typeof MessageType.Error;

/** A call waiting for its reply. */
export interface PendingCall {
  /** What the call is, for error messages (a service name, or a channel's label). */
  readonly service: string;
  /** Set by the table when the call is added: which deadline queue it is in. */
  timeoutMs: number;
  /** The peer answered. */
  settle(type: ReplyType, body: Uint8Array): void;
  /** No answer will come: timeout, or the link closed. */
  fail(err: RpcError): void;
}

const U32_LIMIT = 0x1_0000_0000;
/** Settled entries a deadline queue may keep before it is compacted (beyond twice its live ones). */
const COMPACT_SLACK = 64;

/** Calls made with one timeout, oldest first. Entries of settled calls are skipped lazily. */
class DeadlineQueue {
  ids: number[] = [];
  deadlines: number[] = [];
  head = 0;
  live = 0;

  get length(): number {
    return this.ids.length - this.head;
  }
}

export class PendingCalls {
  private readonly calls = new Map<number, PendingCall>();
  private readonly queues = new Map<number, DeadlineQueue>();
  private nextId = 1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the armed timer fires (Infinity when none is armed). */
  private timerAt = Infinity;

  /** `expired` is told of each call whose timeout passed (it has left the table). */
  constructor(
    readonly max: number,
    private readonly expired: (call: PendingCall, timeoutMs: number) => void,
  ) {}

  get size(): number {
    return this.calls.size;
  }
  get full(): boolean {
    return this.calls.size >= this.max;
  }
  /** Deadline entries held, answered ones not yet dropped included: stays within 2 × size + slack per timeout. */
  get entries(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.length;
    return n;
  }

  /** Store a call under a fresh request id (a wrapping u32 that skips 0 and ids still waiting). */
  add(call: PendingCall, timeoutMs: number): number {
    let id = this.nextId;
    while (id === 0 || this.calls.has(id)) id = (id + 1) % U32_LIMIT;
    this.nextId = (id + 1) % U32_LIMIT;
    this.calls.set(id, call);
    let queue = this.queues.get(timeoutMs);
    if (queue === undefined) {
      queue = new DeadlineQueue();
      this.queues.set(timeoutMs, queue);
    }
    const deadline = Date.now() + timeoutMs;
    queue.ids.push(id);
    queue.deadlines.push(deadline);
    queue.live++;
    call.timeoutMs = timeoutMs;
    if (deadline < this.timerAt) this.arm(deadline);
    return id;
  }

  /** Remove and return the call with this id, if it is still waiting. */
  take(id: number): PendingCall | undefined {
    const call = this.calls.get(id);
    if (call === undefined) return undefined;
    this.calls.delete(id);
    const queue = this.queues.get(call.timeoutMs)!;
    queue.live--;
    // Replies mostly come in order: drop settled entries from the head now, and compact a
    // queue whose settled entries (answered out of order) have piled up behind a slow call.
    this.dropSettledHead(queue);
    if (queue.length > 2 * queue.live + COMPACT_SLACK) this.compact(queue);
    return call;
  }

  /** Remove and return every waiting call (the link is gone). */
  takeAll(): PendingCall[] {
    const all = [...this.calls.values()];
    this.calls.clear();
    this.queues.clear();
    this.disarm();
    return all;
  }

  private dropSettledHead(queue: DeadlineQueue): void {
    while (queue.head < queue.ids.length && !this.calls.has(queue.ids[queue.head]!)) queue.head++;
    if (queue.head === queue.ids.length) {
      queue.ids.length = queue.deadlines.length = queue.head = 0;
    } else if (queue.head > 1024 && queue.head * 2 > queue.ids.length) {
      queue.ids = queue.ids.slice(queue.head);
      queue.deadlines = queue.deadlines.slice(queue.head);
      queue.head = 0;
    }
  }

  private compact(queue: DeadlineQueue): void {
    const ids: number[] = [];
    const deadlines: number[] = [];
    for (let i = queue.head; i < queue.ids.length; i++) {
      if (!this.calls.has(queue.ids[i]!)) continue;
      ids.push(queue.ids[i]!);
      deadlines.push(queue.deadlines[i]!);
    }
    queue.ids = ids;
    queue.deadlines = deadlines;
    queue.head = 0;
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [timeoutMs, queue] of this.queues) {
      while (queue.head < queue.ids.length && queue.deadlines[queue.head]! <= now) {
        const id = queue.ids[queue.head++]!;
        const call = this.calls.get(id);
        if (call === undefined) continue;
        this.calls.delete(id);
        queue.live--;
        this.expired(call, timeoutMs);
      }
      this.dropSettledHead(queue);
      if (queue.length === 0) this.queues.delete(timeoutMs);
      else next = Math.min(next, queue.deadlines[queue.head]!);
    }
    // `expired` may have added calls (and armed the timer) meanwhile.
    if (next < this.timerAt) this.arm(next);
  };

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    // Node fires a timer up to 1 ms early in Date.now() terms; +1 keeps `fire` from finding nothing due.
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()) + 1);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
