/**
 * Calls waiting for their replies on one link. Bounded; every entry leaves the table exactly
 * once — by its reply, its timeout or the link closing — so nothing leaks (G-Firefly kept
 * timed-out entries forever).
 */
import type { RpcError } from "./errors.ts";

export interface PendingCall {
  readonly service: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: RpcError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const U32_LIMIT = 0x1_0000_0000;

export class PendingCalls {
  private readonly calls = new Map<number, PendingCall>();
  private nextId = 1;

  constructor(readonly max: number) {}

  get size(): number {
    return this.calls.size;
  }
  get full(): boolean {
    return this.calls.size >= this.max;
  }

  /** Store a call under a fresh request id: a wrapping u32 that skips 0 and ids still waiting. */
  add(call: PendingCall): number {
    let id = this.nextId;
    while (id === 0 || this.calls.has(id)) id = (id + 1) % U32_LIMIT;
    this.nextId = (id + 1) % U32_LIMIT;
    this.calls.set(id, call);
    return id;
  }

  /** Remove and return the call with this id (its timer cleared), if it is still waiting. */
  take(id: number): PendingCall | undefined {
    const call = this.calls.get(id);
    if (call === undefined) return undefined;
    this.calls.delete(id);
    clearTimeout(call.timer);
    return call;
  }

  /** Remove and return every waiting call (the link is gone). */
  takeAll(): PendingCall[] {
    const all = [...this.calls.values()];
    this.calls.clear();
    for (const call of all) clearTimeout(call.timer);
    return all;
  }
}
