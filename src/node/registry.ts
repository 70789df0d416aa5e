/**
 * The command registry: command id → handler, with the codec and validator resolved once at
 * registration so dispatch is a map lookup.
 */
import { codecByName, isSystemCommand, type CodecName, type CommandDef, type PayloadCodec, type PushDef } from "../protocol/index.ts";
import type { SessionRef } from "../session/index.ts";

/** What a handler gets besides its request: the client that sent it. */
export interface ClientContext {
  /** Connection id, unique within the node. */
  readonly id: number;
  readonly remoteAddress: string;
  readonly transport: "tcp" | "ws";
  /** Push a declared message to this client. Returns false if it could not be queued. */
  push<T>(message: PushDef<T>, data: T): boolean;
  /** Close this client's connection with a reason it receives in a Kick frame (on a session gateway: end its session). */
  kick(reason: string): void;
  /** The client's session, when it logged in at a session gateway (docs/sessions.md). */
  readonly session?: SessionRef;
}

export type CommandHandler<Req, Res> = (request: Req, client: ClientContext) => Res | Promise<Res>;

export interface CommandEntry {
  readonly id: number;
  readonly name: string;
  readonly codec: PayloadCodec;
  readonly validate: ((value: unknown) => boolean) | undefined;
  readonly handler: CommandHandler<unknown, unknown>;
}

export class CommandRegistry {
  private readonly entries = new Map<number, CommandEntry>();

  constructor(private readonly defaultCodec: CodecName) {}

  /** Register the handler of a declared command. A command has exactly one handler. */
  handle<Req, Res>(command: CommandDef<Req, Res>, handler: CommandHandler<Req, Res>): void {
    if (isSystemCommand(command.id)) throw new Error(`command ${command.id} (${command.name}) is in the range reserved for the framework (from 0xffffff00)`);
    this.register(command, handler);
  }

  /** The framework's own handlers of system commands (session hooks), kept out of `handle`. */
  system<Req, Res>(command: CommandDef<Req, Res>, handler: CommandHandler<Req, Res>): void {
    this.register(command, handler);
  }

  private register<Req, Res>(command: CommandDef<Req, Res>, handler: CommandHandler<Req, Res>): void {
    const existing = this.entries.get(command.id);
    if (existing) {
      throw new Error(`command ${command.id} (${command.name}) already has a handler (${existing.name})`);
    }
    this.entries.set(command.id, {
      id: command.id,
      name: command.name,
      codec: codecByName(command.codec ?? this.defaultCodec),
      validate: command.validate,
      handler: handler as CommandHandler<unknown, unknown>,
    });
  }

  /**
   * Register a command's handler, replacing the one it has: what a `reload` module does to put
   * new logic in place while clients stay connected. Requests already running finish on the
   * old handler; the next one runs the new.
   */
  replace<Req, Res>(command: CommandDef<Req, Res>, handler: CommandHandler<Req, Res>): void {
    this.entries.delete(command.id);
    this.handle(command, handler);
  }

  /** Remove a command's handler (for reloading a module). Returns whether one was registered. */
  remove(command: CommandDef<unknown, unknown> | number): boolean {
    return this.entries.delete(typeof command === "number" ? command : command.id);
  }

  lookup(id: number): CommandEntry | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
