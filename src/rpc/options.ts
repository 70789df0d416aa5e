/**
 * Limits and timings of inter-node links, with their defaults. Every bound has a defined
 * behaviour when reached; docs/protocol.md ("Inter-node links") lists them.
 */
import { checkTimeout } from "./caller.ts";

export interface LinkOptions {
  /** Default timeout of a call (default 10 s); `withTimeout(ms)` overrides it per call. */
  timeoutMs?: number;
  /** Calls that may wait for replies on one link; more reject at once with TooManyPending (default 10 000). */
  maxPending?: number;
  /** Handlers (calls and notifies) that may run at once for one link; more calls are answered TooManyInFlight, more notifies dropped (default 10 000). */
  maxInFlight?: number;
  /** Largest frame body accepted from the peer; a bigger one closes the link (default 16 MiB). */
  maxBodyBytes?: number;
  /** Bytes queued for a peer that does not read; above this the link is dropped (default 64 MiB). */
  maxOutboundBytes?: number;
  /** A Heartbeat is sent after this long without sending anything (default 5 s). */
  heartbeatMs?: number;
  /** The link is dropped after this long without hearing from the peer (default 15 s). */
  idleTimeoutMs?: number;
  /** TCP connect plus handshake must finish within this (default 5 s). */
  handshakeTimeoutMs?: number;
}

export type ResolvedLinkOptions = Readonly<Required<LinkOptions>>;

export const DEFAULT_LINK_OPTIONS: ResolvedLinkOptions = {
  timeoutMs: 10_000,
  maxPending: 10_000,
  maxInFlight: 10_000,
  maxBodyBytes: 16 * 1024 * 1024,
  maxOutboundBytes: 64 * 1024 * 1024,
  heartbeatMs: 5_000,
  idleTimeoutMs: 15_000,
  handshakeTimeoutMs: 5_000,
};

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value <= 0 || value > max) throw new RangeError(`link option ${name} must be a positive integer up to ${max}, got ${value}`);
  return value;
}

/** Fill in defaults and reject combinations that could not work. */
export function resolveLinkOptions(options: LinkOptions = {}): ResolvedLinkOptions {
  const o = { ...DEFAULT_LINK_OPTIONS, ...stripUndefined(options) };
  checkTimeout(o.timeoutMs);
  positiveInt("maxPending", o.maxPending);
  positiveInt("maxInFlight", o.maxInFlight);
  positiveInt("maxBodyBytes", o.maxBodyBytes, 0xffff_ffff - 10);
  positiveInt("maxOutboundBytes", o.maxOutboundBytes);
  positiveInt("heartbeatMs", o.heartbeatMs, 0x7fff_ffff);
  positiveInt("idleTimeoutMs", o.idleTimeoutMs, 0x7fff_ffff);
  positiveInt("handshakeTimeoutMs", o.handshakeTimeoutMs, 0x7fff_ffff);
  // One frame of the largest size must fit, or a legal reply would drop the link.
  if (o.maxOutboundBytes < o.maxBodyBytes + 14) throw new RangeError("link option maxOutboundBytes must be at least maxBodyBytes + 14");
  // The peer is silent for up to one heartbeat period between frames; less would drop live links.
  if (o.idleTimeoutMs <= o.heartbeatMs) throw new RangeError("link option idleTimeoutMs must be greater than heartbeatMs");
  return Object.freeze(o);
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface ReconnectOptions {
  /** Delay before the first attempt after a drop (default 100 ms). */
  initialDelayMs?: number;
  /** Upper bound of the delay (default 5 s). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Random spread of each delay, 0..1 (default 0.2), so restarted children do not return in lockstep. */
  jitter?: number;
}

export type ResolvedReconnect = Readonly<Required<ReconnectOptions>>;

export function resolveReconnect(options: ReconnectOptions | false | undefined): ResolvedReconnect | null {
  if (options === false) return null;
  const r = {
    initialDelayMs: options?.initialDelayMs ?? 100,
    maxDelayMs: options?.maxDelayMs ?? 5_000,
    factor: options?.factor ?? 2,
    jitter: options?.jitter ?? 0.2,
  };
  if (!(r.initialDelayMs >= 0 && r.maxDelayMs >= r.initialDelayMs && r.factor >= 1 && r.jitter >= 0 && r.jitter <= 1)) {
    throw new RangeError("reconnect options need 0 <= initialDelayMs <= maxDelayMs, factor >= 1 and 0 <= jitter <= 1");
  }
  return Object.freeze(r);
}

/** Delay before reconnect attempt `attempt` (1-based): exponential, capped, with jitter. */
export function backoffDelay(r: ResolvedReconnect, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** Math.max(0, attempt - 1));
  return Math.max(0, base * (1 + r.jitter * (random() * 2 - 1)));
}
