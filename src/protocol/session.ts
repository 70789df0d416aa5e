/**
 * The session part of the native protocol (docs/sessions.md, docs/protocol.md "Sessions"):
 * system commands and their bodies. Bodies are UTF-8 JSON like the other control bodies, so a
 * client needs no msgpack to log in. Browser-safe.
 */

/** Command ids at and above this are the framework's own; apps cannot register them. */
export const SYSTEM_COMMAND_BASE = 0xffff_ff00;

export const SystemCommand = {
  /** Client → gateway, request: log in with credentials. Reply: {@link SessionReply}. */
  Login: 0xffff_ff01,
  /** Client → gateway, request: resume a session after a dropped connection. Reply: {@link SessionReply}. */
  Resume: 0xffff_ff02,
  /** Client → gateway, request: end the session now (no resume). Empty reply. */
  Logout: 0xffff_ff03,
  /** Gateway → scene (forwarded request): a session enters the scene. Body {@link EnterBody}. */
  Enter: 0xffff_ff10,
  /** Gateway → scene (forwarded request): a session leaves the scene for another. Body {@link LeaveBody}. */
  Leave: 0xffff_ff11,
} as const;

export function isSystemCommand(command: number): boolean {
  return command >= SYSTEM_COMMAND_BASE;
}

export interface LoginBody {
  /** Whatever the app's verify hook expects (any JSON value). */
  credentials: unknown;
}

export interface ResumeBody {
  token: string;
  /** The sequence number of the last push the client received (0: none). */
  lastSeq: number;
}

/** The gateway's answer to Login and Resume. */
export interface SessionReply {
  /** Session id, unique on its gateway. */
  session: number;
  uid: string;
  /** The scene the session is in ("" for none). */
  scene: string;
  /** Resumes this session once; every successful resume hands out a new one. */
  token: string;
  /** How long after a dropped connection the session can be resumed (0: not at all). */
  resumeWindowMs: number;
  /** The gateway's name (a resume must go to the same gateway). */
  gateway: string;
  /** On Resume: how many buffered pushes follow this reply. */
  replayed?: number;
  /** On Login: what the verify hook returned as `reply`, if anything. */
  data?: unknown;
}

export interface EnterBody {
  fromScene: string | null;
  extra?: unknown;
}

export interface LeaveBody {
  toScene: string;
}
