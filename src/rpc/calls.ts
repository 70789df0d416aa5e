/**
 * The two kinds of call a link waits on: a service call (msgpack result, settles a promise)
 * and a raw-channel call (bytes in, bytes out, one callback). Both are plain objects with
 * their methods on the prototype, one per call.
 */
import { MessageType } from "../protocol/index.ts";
import type { RpcCounters } from "./counters.ts";
import { errorText, RpcError, RpcErrorCode } from "./errors.ts";
import type { PendingCall, ReplyType } from "./pending.ts";
import { decodeErrorReply, decodeResult } from "./wire.ts";

/**
 * The outcome of a raw call: `err` set when no reply can come (then `type` is Error and `body`
 * empty); otherwise the peer's Response or Error frame body, untouched.
 */
export type RawDone = (err: RpcError | null, type: ReplyType, body: Uint8Array) => void;

const EMPTY = new Uint8Array(0);

export class ServiceCall implements PendingCall {
  timeoutMs = 0;

  constructor(
    readonly service: string,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: RpcError) => void,
    private readonly counters: RpcCounters,
  ) {}

  settle(type: ReplyType, body: Uint8Array): void {
    if (type === MessageType.Error) {
      this.reject(decodeErrorReply(body, this.service));
      return;
    }
    let value: unknown;
    try {
      value = decodeResult(body);
    } catch (err) {
      this.counters.errors++;
      this.reject(new RpcError(RpcErrorCode.BadPayload, `${this.service}: the reply is not valid msgpack: ${errorText(err)}`));
      return;
    }
    this.resolve(value);
  }

  fail(err: RpcError): void {
    this.reject(err);
  }
}

export class RawCall implements PendingCall {
  timeoutMs = 0;

  constructor(
    readonly service: string,
    private readonly done: RawDone,
  ) {}

  settle(type: ReplyType, body: Uint8Array): void {
    this.done(null, type, body);
  }

  fail(err: RpcError): void {
    this.done(err, MessageType.Error, EMPTY);
  }
}
