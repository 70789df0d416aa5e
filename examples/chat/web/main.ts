/**
 * The chat page: the browser client SDK over WebSocket. The SDK logs in with the chosen name,
 * and after a dropped connection resumes the session and replays what was missed by itself;
 * the page only shows what arrives. `?ws=ws://host:port/` points it at another gateway.
 */
import { createClient, type Client } from "../../../src/client/browser.ts";
import { Joined, Left, Move, Moved, Said, Say, Who, type Member } from "../protocol.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $<HTMLUListElement>("log");
const roster = new Map<string, string>();
const wsUrl = new URLSearchParams(location.search).get("ws") ?? `ws://${location.hostname}:4302/`;
let client: Client | null = null;
let logins = 0;

function line(text: string, kind: "line" | "notice", scene?: string): void {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  if (scene !== undefined) {
    const tag = document.createElement("span");
    tag.className = "scene";
    tag.textContent = ` (${scene})`;
    item.append(tag);
  }
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

function showRoster(): void {
  const list = $<HTMLUListElement>("roster");
  list.replaceChildren(
    ...[...roster.entries()].sort().map(([name, scene]) => {
      const item = document.createElement("li");
      item.textContent = `${name} · ${scene}`;
      return item;
    }),
  );
}

function status(text: string): void {
  $("status").textContent = text;
}

async function refreshRoster(c: Client): Promise<void> {
  const members: Member[] = await c.request(Who, null);
  roster.clear();
  for (const m of members) roster.set(m.name, m.scene);
  showRoster();
}

async function join(name: string): Promise<void> {
  status("connecting…");
  // Listeners first: the scene announces the join while the login is still being answered.
  const c = createClient(wsUrl, { login: () => ({ name }), reconnect: { initialDelayMs: 200, maxDelayMs: 2000 } });
  client = c;
  c.on(Said, (m) => line(`${m.from}: ${m.text}`, "line", m.scene));
  c.on(Joined, (m) => {
    roster.set(m.name, m.scene);
    showRoster();
    line(`${m.name} joined`, "notice");
  });
  c.on(Left, (m) => {
    roster.delete(m.name);
    showRoster();
    line(`${m.name} left`, "notice");
  });
  c.on(Moved, (m) => {
    roster.set(m.name, m.scene);
    showRoster();
    line(`${m.name} moved to ${m.scene}`, "notice");
  });
  c.onSession((session, how) => {
    status(`${how === "resume" ? "resumed" : "online"} as ${session.uid} in ${session.scene}`);
    // A login after the first means the old session could not be resumed.
    if (how === "login" && logins++ > 0) line(`(a new session: missed messages are lost)`, "notice");
    refreshRoster(c).catch(() => {});
  });
  c.onStateChange((state) => {
    if (state !== "open") status(state);
  });
  c.onKick((kick) => line(`disconnected: ${kick.reason}`, "notice"));
  await c.open();
  status(`online as ${c.session?.uid ?? name} in ${c.session?.scene ?? "?"}`);
  for (const id of ["text", "send", "move"]) ($<HTMLInputElement>(id)).disabled = false;
  await refreshRoster(c);
}

$<HTMLFormElement>("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $<HTMLInputElement>("name").value.trim();
  if (name === "" || client !== null) return;
  join(name).catch((err: unknown) => {
    client = null;
    status(`not joined: ${err instanceof Error ? err.message : String(err)}`);
  });
});

$<HTMLFormElement>("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("text");
  const text = input.value.trim();
  if (text === "" || client === null) return;
  input.value = "";
  client.request(Say, { text }).catch((err: unknown) => line(`not sent: ${err instanceof Error ? err.message : String(err)}`, "notice"));
});

$("move").addEventListener("click", () => {
  client
    ?.request(Move, null)
    .then((r) => status(`online in ${r.scene}`))
    .catch((err: unknown) => line(`could not move: ${err instanceof Error ? err.message : String(err)}`, "notice"));
});
