/** Per-connection limits, with the defaults a port gets when its config says nothing. */
export interface ConnectionLimits {
  /** Largest frame body accepted from (and sent to) a client. */
  maxBodyBytes: number;
  /** Bytes a connection may have queued for sending before it is closed as a slow consumer. */
  maxOutboundBytes: number;
  /** Requests a connection may have in flight; more are answered with TooManyInFlight. */
  maxInFlight: number;
  /** A heartbeat is sent after this long without hearing from the client, or without sending to it (native frames only). */
  heartbeatMs: number;
  /** The connection is closed after this long without hearing from the client. */
  idleTimeoutMs: number;
  /** A native connection must complete its handshake within this time. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = {
  maxBodyBytes: 1024 * 1024,
  maxOutboundBytes: 4 * 1024 * 1024,
  maxInFlight: 64,
  heartbeatMs: 10_000,
  idleTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
};
