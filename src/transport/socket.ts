/**
 * The byte pipe under a Connection. TCP and WebSocket differ only here, so Connection,
 * heartbeats and limits are written once.
 */
import type { Socket } from "node:net";
import type { WebSocket } from "ws";

export interface ByteSocket {
  readonly remoteAddress: string;
  write(bytes: Uint8Array): void;
  /** Several whole frames at once (in one system call where the transport allows). */
  writeMany(frames: readonly Uint8Array[], totalBytes: number): void;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Flush what is queued, then close. */
  end(): void;
  /** Close now, dropping what is queued. */
  destroy(): void;
}

export class TcpByteSocket implements ByteSocket {
  readonly remoteAddress: string;
  constructor(private readonly socket: Socket) {
    this.remoteAddress = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
  }
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
  writeMany(frames: readonly Uint8Array[], totalBytes: number): void {
    // One contiguous write: cheaper than cork()/uncork(), which keeps a stream entry per piece.
    this.socket.write(Buffer.concat(frames, totalBytes));
  }
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }
  end(): void {
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

export class WsByteSocket implements ByteSocket {
  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {}
  write(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }
  // Each native frame is one WebSocket message.
  writeMany(frames: readonly Uint8Array[]): void {
    for (const frame of frames) this.ws.send(frame, { binary: true });
  }
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
  end(): void {
    this.ws.close(1000);
  }
  destroy(): void {
    this.ws.terminate();
  }
}
