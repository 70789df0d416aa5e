/**
 * The byte pipe under a client: TCP or WebSocket (Node's `ws`, or the browser's WebSocket).
 * The client core speaks only to this interface, so the browser build pulls in nothing from Node.
 */
export interface ClientTransport {
  send(bytes: Uint8Array): void;
  /** Close the pipe; `closed` fires afterwards. */
  close(): void;
  /**
   * Close at once without waiting for the peer (a dead link: a graceful close would wait for
   * an answer that never comes); `closed` fires afterwards. Defaults to close().
   */
  abort?(): void;
}

export interface TransportEvents {
  /** Bytes from the server: a stream chunk (TCP) or one whole message (WebSocket). */
  data(chunk: Uint8Array): void;
  /** The pipe closed, whoever closed it. Fires once, and only after the promise resolved. */
  closed(reason: string): void;
}

/** Opens a pipe to `url`; rejects if it is not open within `timeoutMs`. */
export type TransportFactory = (url: URL, events: TransportEvents, timeoutMs: number) => Promise<ClientTransport>;

/** Settle a connect attempt once, with a deadline. Shared by every transport. */
export function connectAttempt<T>(url: URL, timeoutMs: number, abort: () => void) {
  let settled = false;
  let resolveFn: (value: T) => void = () => {};
  let rejectFn: (err: Error) => void = () => {};
  const promise = new Promise<T>((resolve, reject) => {
    resolveFn = resolve;
    rejectFn = reject;
  });
  const timer = setTimeout(() => {
    fail(new Error(`connecting to ${url.href} timed out after ${timeoutMs} ms`));
    abort();
  }, timeoutMs);
  const fail = (err: Error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    rejectFn(err);
  };
  return {
    promise,
    get settled() {
      return settled;
    },
    succeed(value: T) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolveFn(value);
    },
    fail,
  };
}
