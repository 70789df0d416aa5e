/**
 * Typed errors of inter-node calls. Every call either resolves with the handler's result or
 * rejects with an RpcError whose `code` says why — never with `undefined`/`None` (Firefly) or
 * a stringly error (G-Firefly).
 */

/**
 * Codes carried by RpcError. 1–5 can come from the peer (in an Error frame); 6–9 are decided
 * locally; 3 (BadPayload) can be either. Codes ≥ 1000 are application codes thrown by a remote
 * handler as `new CommandError(code, message)`. 1–8 mean the same as the client protocol's
 * ErrorCode values of the same number.
 */
export const RpcErrorCode = {
  /** The peer has no handler registered for the service. */
  UnknownService: 1,
  /** The remote handler threw something that was not a CommandError; details are in the peer's log. */
  RemoteFailed: 2,
  /** Arguments or result could not be encoded/decoded, failed the service's validator, or exceed the frame limit. */
  BadPayload: 3,
  /** The peer already runs its maximum number of handlers for this link. */
  TooManyInFlight: 4,
  /** The peer is closing the link and takes no new calls. */
  ShuttingDown: 5,
  /** No reply within the call's timeout. */
  Timeout: 6,
  /** The link closed while the call was waiting for its reply. */
  LinkClosed: 7,
  /** The link already has its maximum number of calls waiting for replies. */
  TooManyPending: 8,
  /** There is no open link to call on (unknown child, root down, reconnecting, closed). */
  NotConnected: 9,
} as const;
export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

const NAMES = new Map<number, string>(Object.entries(RpcErrorCode).map(([name, code]) => [code, name]));

/** Readable name of a code, for logs: "Timeout", "app 1001". */
export function rpcErrorName(code: number): string {
  return NAMES.get(code) ?? `app ${code}`;
}

export class RpcError extends Error {
  override readonly name = "RpcError";
  constructor(
    /** An RpcErrorCode, or an application code (≥ 1000) sent by the remote handler. */
    readonly code: number,
    message: string,
    /** True when the code came from the peer in an Error frame, false when decided here. */
    readonly remote = false,
  ) {
    super(message);
  }
}

/** An exception as text for the log (with its stack when it has one). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
