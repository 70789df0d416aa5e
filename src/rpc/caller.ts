/**
 * What can call services on a peer: a Link, a RootClient, and their per-call-option views.
 * `call` always settles (result or RpcError, within the timeout); `notify` is the separate,
 * explicit fire-and-forget.
 */
import type { ServiceDef } from "./service.ts";

export interface Caller {
  /** Call a service and wait for its result, with the default timeout. Rejects with RpcError. */
  call<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R>;
  /** Send without waiting for (or getting) a result. Returns false if it could not be sent. */
  notify<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean;
  /** The same caller with another timeout for the calls made through it. */
  withTimeout(timeoutMs: number): Caller;
}

/** The one primitive behind every Caller: a call with an explicit timeout. */
export interface CallTarget {
  callTimed(def: ServiceDef<unknown[], unknown>, args: unknown[], timeoutMs: number | undefined): Promise<unknown>;
  notify<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean;
}

/** Checks a timeout given by the caller (a typo like 0 or NaN must not mean "wait forever" or "fail at once"). */
export function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 0x7fff_ffff) {
    throw new RangeError(`a call timeout must be a positive number of milliseconds up to 2^31-1, got ${timeoutMs}`);
  }
  return timeoutMs;
}

/** `target.withTimeout(ms)`: the same target with a fixed timeout. */
export class TimedCaller implements Caller {
  constructor(
    private readonly target: CallTarget,
    private readonly timeoutMs: number,
  ) {
    checkTimeout(timeoutMs);
  }

  call<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): Promise<R> {
    return this.target.callTimed(def, args, this.timeoutMs) as Promise<R>;
  }

  notify<A extends unknown[], R>(def: ServiceDef<A, R>, ...args: NoInfer<A>): boolean {
    return this.target.notify(def, ...args);
  }

  withTimeout(timeoutMs: number): Caller {
    return new TimedCaller(this.target, timeoutMs);
  }
}
