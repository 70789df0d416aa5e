/** Start a listening server and learn its real port (port 0 picks a free one). */
import type { Server } from "node:net";

/** Listen on `host:port`; rejects with the listen error (EADDRINUSE, …); resolves with the bound port. */
export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return boundPort(server, port);
}

/** The port a listening server is bound to, or `fallback` if it is not listening. */
export function boundPort(server: { address(): unknown }, fallback: number): number {
  const address = server.address();
  return typeof address === "object" && address !== null && "port" in address && typeof address.port === "number" ? address.port : fallback;
}
