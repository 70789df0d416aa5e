/**
 * Frame formats: how messages become bytes on a stream. Both formats glowfly speaks are
 * "fixed header + body" with the body length in the header, so they share one decoder that
 * handles partial and coalesced ("sticky") packets and never allocates past one frame.
 */
import { ProtocolError } from "./errors.ts";
import type { Message } from "./message.ts";

/** Default cap on a frame's body: 1 MiB. */
export const DEFAULT_MAX_BODY = 1024 * 1024;

/** A wire format: encoder plus a factory of per-stream decoders. Pure, no I/O. */
export interface FrameFormat {
  readonly name: "native" | "firefly";
  /** Bytes of fixed header before each body. */
  readonly headerSize: number;
  /** Largest body accepted or produced. */
  readonly maxBody: number;
  /** Whether the format can carry handshake, heartbeat, error and kick messages. */
  readonly hasControlMessages: boolean;
  /** Encode one message; returns null when the format cannot carry its type. */
  encode(message: Message): Uint8Array | null;
  /** A decoder for one stream (one connection). */
  createDecoder(): FrameDecoder;
}

/** What a format contributes to the shared decoder. */
export interface HeaderReader {
  readonly headerSize: number;
  /**
   * Validate the header at `offset` and return the body length. Throws ProtocolError.
   * Must not read past `offset + headerSize`.
   */
  bodyLength(bytes: Uint8Array, offset: number): number;
  /** Build the message from a validated header; `body` is already sliced. */
  message(bytes: Uint8Array, offset: number, body: Uint8Array): Message;
}

/** Receives each decoded message in order. */
export type MessageSink = (message: Message) => void;

/**
 * Incremental decoder. Feed it every chunk read from a stream; it calls `sink` for each
 * complete frame. Bodies of frames that arrive whole are views into the chunk (no copy); a
 * frame split across chunks is copied once into a buffer of exactly its size, allocated only
 * after its header has been validated, so hostile input cannot make it allocate more than
 * header + max body.
 */
export class FrameDecoder {
  /** Partial frame (or partial header) being filled. */
  private partial: Uint8Array | null = null;
  private filled = 0;
  /** True while `partial` holds only a header. */
  private headerOnly = false;
  /** Set after a protocol error: the stream is unusable from then on. */
  private failed: ProtocolError | null = null;

  constructor(private readonly reader: HeaderReader) {}

  /** Bytes held for a frame that is not complete yet. */
  get pendingBytes(): number {
    return this.partial === null ? 0 : this.filled;
  }

  /** Decode what `chunk` completes. Throws ProtocolError (and nothing else) on bad input. */
  push(chunk: Uint8Array, sink: MessageSink): void {
    if (this.failed) throw this.failed;
    try {
      this.consume(chunk, sink);
    } catch (err) {
      if (err instanceof ProtocolError) this.failed = err;
      throw err;
    }
  }

  private consume(chunk: Uint8Array, sink: MessageSink): void {
    const headerSize = this.reader.headerSize;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.partial !== null) {
        const partial = this.partial;
        const n = Math.min(partial.length - this.filled, chunk.length - offset);
        partial.set(chunk.subarray(offset, offset + n), this.filled);
        this.filled += n;
        offset += n;
        if (this.filled < partial.length) return;
        if (this.headerOnly) {
          const bodyLength = this.reader.bodyLength(partial, 0);
          this.headerOnly = false;
          if (bodyLength > 0) {
            // Header is valid: now it is safe to allocate the whole frame.
            const frame = new Uint8Array(headerSize + bodyLength);
            frame.set(partial, 0);
            this.partial = frame;
            continue;
          }
        }
        this.partial = null;
        this.filled = 0;
        sink(this.reader.message(partial, 0, partial.subarray(headerSize)));
        continue;
      }
      const remaining = chunk.length - offset;
      if (remaining < headerSize) {
        this.partial = new Uint8Array(headerSize);
        this.headerOnly = true;
        this.filled = 0;
        continue;
      }
      const bodyLength = this.reader.bodyLength(chunk, offset);
      const frameLength = headerSize + bodyLength;
      if (remaining >= frameLength) {
        const body = chunk.subarray(offset + headerSize, offset + frameLength);
        const message = this.reader.message(chunk, offset, body);
        offset += frameLength;
        sink(message);
      } else {
        const frame = new Uint8Array(frameLength);
        frame.set(chunk.subarray(offset), 0);
        this.partial = frame;
        this.filled = remaining;
        this.headerOnly = false;
        return;
      }
    }
  }
}

/** Checks a body length against a format's limit; shared by both formats. */
export function checkBodyLength(bodyLength: number, maxBody: number): number {
  if (bodyLength > maxBody) {
    throw new ProtocolError("frame-too-large", `frame body of ${bodyLength} bytes exceeds the limit of ${maxBody}`);
  }
  return bodyLength;
}
