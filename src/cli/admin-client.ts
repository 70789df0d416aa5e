/** The CLI's side of the admin API: one authenticated, timed-out HTTP call. */
export interface AdminReply {
  status: number;
  body: unknown;
}

export async function adminCall(baseUrl: string, token: string, method: "GET" | "POST", path: string, timeoutMs = 15_000): Promise<AdminReply> {
  let response: Response;
  try {
    response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const why = err instanceof Error && err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : String((err as Error).cause ?? err);
    throw new Error(`cannot reach the master's admin API at ${baseUrl}: ${why}`, { cause: err });
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}
