/**
 * Command and push declarations, shared by server and client code. Declared once, they type
 * the handler on the server and the call on the client:
 *
 *   export const Echo = command<{ text: string }, { text: string }>(1, { name: "echo" });
 *   node.commands.handle(Echo, (req) => ({ text: req.text }));   // server
 *   const reply = await client.request(Echo, { text: "hi" });     // client, reply is typed
 */
import type { CodecName } from "./codec.ts";
import { isU32 } from "./message.ts";

/** Checks a decoded payload; return false (or throw) to answer BadPayload. */
export type Validator<T> = (value: unknown) => value is T;

interface DeclarationOptions<T> {
  /** Name used in logs and errors (default `command <id>`). */
  name?: string;
  /** Payload codec for this command; default: the node's (server) or client's codec. */
  codec?: CodecName;
  /** Optional check of the decoded request/push payload. */
  validate?: Validator<T>;
}

export type CommandOptions<Req> = DeclarationOptions<Req>;
export type PushOptions<T> = DeclarationOptions<T>;

/** A client → server command: `Req` in, `Res` back. */
export interface CommandDef<Req, Res> {
  readonly kind: "command";
  readonly id: number;
  readonly name: string;
  readonly codec: CodecName | undefined;
  readonly validate: Validator<Req> | undefined;
  /** Phantom field carrying the types; never set at run time. */
  readonly types?: { request: Req; reply: Res };
}

/** A server → client push of `T` values. */
export interface PushDef<T> {
  readonly kind: "push";
  readonly id: number;
  readonly name: string;
  readonly codec: CodecName | undefined;
  readonly validate: Validator<T> | undefined;
  readonly types?: { message: T };
}

export type RequestOf<C> = C extends CommandDef<infer Req, unknown> ? Req : never;
export type ReplyOf<C> = C extends CommandDef<unknown, infer Res> ? Res : never;

function checkId(id: number): void {
  if (!isU32(id)) throw new RangeError(`command id must be an unsigned 32-bit integer, got ${id}`);
}

/** Declare a command handled by the server. */
export function command<Req = unknown, Res = unknown>(id: number, options: CommandOptions<Req> = {}): CommandDef<Req, Res> {
  checkId(id);
  return { kind: "command", id, name: options.name ?? `command ${id}`, codec: options.codec, validate: options.validate };
}

/** Declare a message the server pushes to clients. */
export function push<T = unknown>(id: number, options: PushOptions<T> = {}): PushDef<T> {
  checkId(id);
  return { kind: "push", id, name: options.name ?? `push ${id}`, codec: options.codec, validate: options.validate };
}
