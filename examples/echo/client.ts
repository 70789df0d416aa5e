/**
 * A small client for the echo example: `node --import tsx examples/echo/client.ts [url]`
 * (default tcp://127.0.0.1:4100; try ws://127.0.0.1:4102/).
 */
import { connect } from "../../src/client/index.ts";
import { Add, Echo, Said, Say } from "./commands.ts";

const client = await connect(process.argv[2] ?? "tcp://127.0.0.1:4100");
client.on(Said, (message) => console.log(`[${message.from}] ${message.text}`));
console.log("echo ->", await client.request(Echo, { text: "hello glowfly" }));
console.log("add  ->", await client.request(Add, { a: 2, b: 40 }));
console.log("say  ->", await client.request(Say, { from: "example", text: "hi everyone" }));
client.close();
