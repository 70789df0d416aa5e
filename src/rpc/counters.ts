/** Counters for a status page, shared by every link of one root server or root client. */
export interface RpcCounters {
  /** Calls made, including those rejected at once. */
  calls: number;
  /** Calls that rejected, for any reason (timeouts included). */
  errors: number;
  /** Calls that rejected with Timeout. */
  timeouts: number;
  /** Notifies sent. */
  notifies: number;
  /** Calls and notifies from peers handed to a handler. */
  served: number;
  /** Handlers that threw something other than a CommandError (logged on this node). */
  serveErrors: number;
  /** Notifies from peers dropped: over maxInFlight, link closing, unknown service or bad body. */
  dropped: number;
  /** Replies that came after their call had settled (timed out): ignored. */
  late: number;
  /** Frames received, and the socket reads they came in (frames ÷ reads shows the batching). */
  framesIn: number;
  reads: number;
  /** Frames sent, and the socket flushes they left in (one system call each). */
  framesOut: number;
  flushes: number;
}

export function newCounters(): RpcCounters {
  return { calls: 0, errors: 0, timeouts: 0, notifies: 0, served: 0, serveErrors: 0, dropped: 0, late: 0, framesIn: 0, reads: 0, framesOut: 0, flushes: 0 };
}
