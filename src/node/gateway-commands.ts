/**
 * The client's session commands on a gateway: Login, Resume and Logout (docs/sessions.md).
 * Their bodies are JSON whatever the node's codec, like the handshake's.
 */
import { CommandError, ErrorCode, jsonCodec, SystemCommand, type LoginBody, type Message, type ResumeBody } from "../protocol/index.ts";
import type { Connection } from "../transport/index.ts";
import type { SessionGateway } from "../session/index.ts";
import type { ConnectionContext } from "./context.ts";

const MAX_TOKEN_LENGTH = 256;

/**
 * Take a system command from a client: answer it (now or when its work is done, then `done`
 * once). Returns false for system commands a client may not send.
 */
export function gatewayRequest(gateway: SessionGateway, connection: Connection, message: Message, done: (failed: boolean) => void): boolean {
  const context = connection.context as ConnectionContext;
  switch (message.command) {
    case SystemCommand.Login: {
      const body = parse(message.body, isLoginBody);
      if (body instanceof CommandError) return answerError(connection, message, body, done);
      gateway.login(context, body).then(
        (reply) => {
          context.clearLoginTimer();
          connection.respond(message, jsonCodec.encode(reply));
          done(false);
        },
        (err: unknown) => answerError(connection, message, asCommandError(err), done),
      );
      return true;
    }
    case SystemCommand.Resume: {
      const body = parse(message.body, isResumeBody);
      if (body instanceof CommandError) return answerError(connection, message, body, done);
      try {
        const { reply, replay } = gateway.resume(context, body);
        context.clearLoginTimer();
        connection.respond(message, jsonCodec.encode(reply));
        for (const push of replay) context.sendPush(push.seq, push.command, push.body);
        done(false);
      } catch (err) {
        answerError(connection, message, asCommandError(err), done);
      }
      return true;
    }
    case SystemCommand.Logout:
      try {
        gateway.logout(context);
        connection.respond(message, jsonCodec.encode(null));
        done(false);
      } catch (err) {
        answerError(connection, message, asCommandError(err), done);
      }
      return true;
    default:
      return false;
  }
}

function answerError(connection: Connection, message: Message, error: CommandError, done: (failed: boolean) => void): true {
  connection.respondError(message, error.code, error.message);
  done(true);
  return true;
}

function asCommandError(err: unknown): CommandError {
  return err instanceof CommandError ? err : new CommandError(ErrorCode.HandlerFailed, err instanceof Error ? err.message : String(err));
}

function parse<T>(body: Uint8Array, check: (value: unknown) => value is T): T | CommandError {
  let value: unknown;
  try {
    value = jsonCodec.decode(body);
  } catch {
    return new CommandError(ErrorCode.BadPayload, "a session command's body must be JSON");
  }
  return check(value) ? value : new CommandError(ErrorCode.BadPayload, "a session command's body has the wrong shape (docs/protocol.md, Sessions)");
}

function isLoginBody(value: unknown): value is LoginBody {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "credentials" in value;
}

function isResumeBody(value: unknown): value is ResumeBody {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { token?: unknown; lastSeq?: unknown };
  return typeof v.token === "string" && v.token.length <= MAX_TOKEN_LENGTH && Number.isInteger(v.lastSeq) && (v.lastSeq as number) >= 0 && (v.lastSeq as number) <= 0xffff_ffff;
}
