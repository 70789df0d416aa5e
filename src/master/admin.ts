/**
 * The admin HTTP API on the master's webport. Every call needs the token (Bearer header, or
 * `?token=` for Firefly-era scripts that only know a URL). Binds 127.0.0.1 unless told otherwise.
 *
 *   GET  /status                  every node: state, pid, restarts, uptime, clients, RPCs
 *   POST /stop                    stop the cluster (body optional: {"deadlineMs": n})
 *   POST /reload                  re-import each node's reload module
 *   POST /nodes/<name>/restart    restart one node
 *   GET  /stop, GET /reloadmodule Firefly's spellings
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "../log/logger.ts";
import { listenOn } from "../transport/listen.ts";
import { tokenMatches } from "./token.ts";

/** What the API asks the master to do. */
export interface AdminActions {
  status(): unknown;
  stop(options: { deadlineMs?: number }): Promise<void>;
  reload(): Promise<unknown>;
  /** Throws UnknownNodeError for a name that is not in the cluster. */
  restart(name: string): Promise<void>;
}

export class UnknownNodeError extends Error {
  override readonly name = "UnknownNodeError";
}

/** The request is valid but this master cannot do it (answered 409). */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

export interface AdminServerOptions {
  host: string;
  port: number;
  token: string;
  actions: AdminActions;
  log: Logger;
}

const MAX_BODY_BYTES = 64 * 1024;
const BODY_TIMEOUT_MS = 5000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class AdminServer {
  private server: Server | null = null;

  constructor(private readonly options: AdminServerOptions) {}

  async listen(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    this.server = server;
    const port = await listenOn(server, this.options.port, this.options.host);
    return { host: this.options.host, port };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    this.authorize(req, url);
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const { actions } = this.options;
    const restart = /^\/nodes\/([^/]+)\/restart$/.exec(path);
    if (path === "/status") {
      allow(method, ["GET"]);
      return send(res, 200, actions.status());
    }
    if (path === "/stop") {
      allow(method, ["GET", "POST"]);
      const body = method === "POST" ? await readJson(req) : {};
      const deadlineMs = body.deadlineMs;
      if (deadlineMs !== undefined && (typeof deadlineMs !== "number" || !Number.isInteger(deadlineMs) || deadlineMs <= 0)) {
        throw new HttpError(400, "deadlineMs must be a positive integer");
      }
      this.options.log.info("admin: stop requested", { remote: req.socket.remoteAddress });
      send(res, 202, { stopping: true });
      // Answer first: stopping closes this server too.
      setImmediate(() => {
        actions.stop({ deadlineMs }).catch((err: unknown) => this.options.log.error("admin stop failed", { error: String(err) }));
      });
      return;
    }
    if (path === "/reload" || path === "/reloadmodule") {
      allow(method, path === "/reload" ? ["POST"] : ["GET", "POST"]);
      if (method === "POST") await readJson(req);
      this.options.log.info("admin: reload requested", { remote: req.socket.remoteAddress });
      return send(res, 200, { reloaded: await actions.reload() });
    }
    if (restart) {
      allow(method, ["POST"]);
      await readJson(req);
      const name = decodeURIComponent(restart[1] ?? "");
      try {
        await actions.restart(name);
      } catch (err) {
        if (err instanceof UnknownNodeError) throw new HttpError(404, err.message);
        if (err instanceof ConflictError) throw new HttpError(409, err.message);
        throw err;
      }
      return send(res, 200, { restarted: name });
    }
    throw new HttpError(404, `no such endpoint: ${path}`);
  }

  private authorize(req: IncomingMessage, url: URL): void {
    const header = req.headers.authorization;
    const given = header?.startsWith("Bearer ") ? header.slice(7).trim() : url.searchParams.get("token");
    if (given === null || given === undefined || given === "") throw new HttpError(401, "admin token required (Authorization: Bearer <token>)");
    if (!tokenMatches(this.options.token, given)) {
      this.options.log.warn("admin: wrong token", { remote: req.socket.remoteAddress });
      throw new HttpError(403, "wrong admin token");
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (err instanceof HttpError) {
      send(res, err.status, { error: err.message });
      return;
    }
    this.options.log.error("admin request failed", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    send(res, 500, { error: "internal error" });
  }
}

function allow(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, `use ${methods.join(" or ")}`);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** An optional JSON object body, bounded in size and time. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new HttpError(408, "body not received in time")), BODY_TIMEOUT_MS);
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        clearTimeout(timer);
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
        req.removeAllListeners("data");
        req.resume(); // discard the rest; the 413 answer still goes out
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpError(400, "body must be a JSON object");
  return value as Record<string, unknown>;
}
