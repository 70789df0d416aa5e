/**
 * Typed errors of the protocol layer and the numeric codes that travel on the wire.
 * Browser-safe: no Node imports.
 */

/** Why a frame could not be decoded. */
export type ProtocolErrorReason =
  | "bad-magic"
  | "bad-version"
  | "bad-length"
  | "frame-too-large"
  | "bad-type"
  | "bad-flags"
  | "bad-direction"
  | "partial-frame"
  | "handshake-required"
  | "bad-handshake";

/** Thrown by decoders for any malformed input. Nothing else escapes a decoder. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    readonly reason: ProtocolErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Codes carried in Error replies. Application codes start at 1000. */
export const ErrorCode = {
  /** No handler is registered for the command. */
  UnknownCommand: 1,
  /** The handler threw something that was not a CommandError (details are only logged). */
  HandlerFailed: 2,
  /** The body could not be decoded by the command's codec, or failed its validator. */
  BadPayload: 3,
  /** The connection already has the maximum number of requests in flight. */
  TooManyInFlight: 4,
  /** The node is stopping and takes no new requests. */
  ShuttingDown: 5,
  /** Client side only: no reply arrived within the request timeout. */
  Timeout: 6,
  /** Client side only: the connection closed before the reply arrived, or is not open. */
  ConnectionClosed: 7,
  /** Client side only: too many requests are waiting for replies. */
  TooManyPending: 8,
  /** The node that handles the command (behind a gateway) is not reachable right now. */
  Unavailable: 9,
  /** A session gateway got a command before the connection logged in (docs/sessions.md). */
  LoginRequired: 10,
  /** The app's verify hook refused the login (its message says why), or it failed or timed out. */
  LoginRefused: 11,
  /** A resume was refused: unknown or used token, or the missed pushes are no longer buffered. */
  ResumeRefused: 12,
  /** Login or resume on a connection that already has a session. */
  AlreadyLoggedIn: 13,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** First code free for application errors. */
export const APP_ERROR_BASE = 1000;

/**
 * An error with a code and a message that the client sees. Handlers throw it to answer
 * with their own code; the client SDK rejects requests with it.
 */
export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Codes carried in Kick frames, telling the client why it is being disconnected. */
export const KickCode = {
  /** The node is stopping. Reconnecting later is expected to work. */
  ShuttingDown: 1,
  /** Nothing arrived from the client within the idle timeout. */
  IdleTimeout: 2,
  /** The client broke the protocol; reconnecting with the same client will fail again. */
  ProtocolError: 3,
  /** The client did not read fast enough and its outbound queue overflowed. */
  SlowConsumer: 4,
  /** The node holds its maximum number of connections. */
  ServerFull: 5,
  /** Closed by application code. */
  Kicked: 6,
  /** The handshake did not arrive in time. */
  HandshakeTimeout: 7,
  /** Another connection took over this session: a newer login with the same uid, or a resume. */
  Replaced: 8,
  /** A session gateway did not get a login in time. */
  LoginTimeout: 9,
  /** The session's scene node was lost and the gateway is configured to end its sessions. */
  SceneLost: 10,
} as const;
export type KickCode = (typeof KickCode)[keyof typeof KickCode];

/** Kick codes after which a client may reconnect automatically. */
export const RETRYABLE_KICKS: ReadonlySet<number> = new Set<number>([
  KickCode.ShuttingDown,
  KickCode.IdleTimeout,
  KickCode.SlowConsumer,
  KickCode.ServerFull,
  KickCode.HandshakeTimeout,
  KickCode.LoginTimeout,
  KickCode.SceneLost,
]);
