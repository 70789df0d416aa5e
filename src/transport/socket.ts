/**
 * The byte pipe under a Connection. TCP and WebSocket differ only here, so Connection,
 * heartbeats and limits are written once.
 */
import type { Socket } from "node:net";
import type { WebSocket } from "ws";

export interface ByteSocket {
  readonly remoteAddress: string;
  write(bytes: Uint8Array): void;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Hold writes until uncork() so a burst leaves in one system call. */
  cork(): void;
  uncork(): void;
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
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
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
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
  // ws frames each send itself; corking its socket is not part of its public API.
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.ws.close(1000);
  }
  destroy(): void {
    this.ws.terminate();
  }
}
