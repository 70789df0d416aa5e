/**
 * The chat room from a terminal, over TCP: `node --import tsx examples/chat/cli.ts <name> [tcp://127.0.0.1:4301]`.
 * Lines typed are said to the room; "/who" lists who is online, "/move" changes scene, "/quit" leaves.
 */
import { createInterface } from "node:readline";
import { connect } from "../../src/client/index.ts";
import { Joined, Left, Move, Moved, Said, Say, Who } from "./protocol.ts";

const [name, url = "tcp://127.0.0.1:4301"] = process.argv.slice(2);
if (name === undefined) {
  console.error("usage: cli.ts <name> [tcp://host:port]");
  process.exit(2);
}
const client = await connect(url, { login: () => ({ name }), reconnect: { initialDelayMs: 200, maxDelayMs: 2000 } }).catch((err: unknown) => {
  console.error(`could not join: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
const print = (text: string) => process.stdout.write(`${text}\n`);
client.on(Said, (m) => print(`[${m.scene}] ${m.from}: ${m.text}`));
client.on(Joined, (m) => print(`* ${m.name} joined (${m.scene})`));
client.on(Left, (m) => print(`* ${m.name} left`));
client.on(Moved, (m) => print(`* ${m.name} moved to ${m.scene}`));
client.onSession((s, how) => print(`* ${how === "resume" ? "resumed" : "logged in"} as ${s.uid} in ${s.scene}`));
client.onStateChange((state) => {
  if (state === "closed") process.exit(0);
});
print(`* logged in as ${client.session?.uid} in ${client.session?.scene}`);

const input = createInterface({ input: process.stdin });
for await (const text of input) {
  const line = text.trim();
  try {
    if (line === "/quit") break;
    else if (line === "/who") print((await client.request(Who, null)).map((m) => `${m.name} (${m.scene})`).join(", "));
    else if (line === "/move") print(`* now in ${(await client.request(Move, null)).scene}`);
    else if (line !== "") await client.request(Say, { text: line });
  } catch (err) {
    print(`! ${err instanceof Error ? err.message : String(err)}`);
  }
}
await client.logout();
