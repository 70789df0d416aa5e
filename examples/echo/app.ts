/** The echo example's server app: what `npm start` runs. */
import { CommandError, defineApp } from "../../src/index.ts";
import { Add, Echo, Said, Say } from "./commands.ts";

/** Application error code for Add (application codes start at 1000). */
const NOT_A_NUMBER = 1001;

export default defineApp((node) => {
  node.commands.handle(Echo, (request) => ({ text: request.text }));

  node.commands.handle(Add, ({ a, b }) => {
    if (!Number.isFinite(a) || !Number.isFinite(b)) throw new CommandError(NOT_A_NUMBER, "a and b must be numbers");
    return { sum: a + b };
  });

  node.commands.handle(Say, (request, client) => {
    const text = String(request.text).slice(0, 500);
    const from = String(request.from).slice(0, 40);
    node.log.info("say", { client: client.id, from });
    return { delivered: node.broadcast(Said, { from, text }) };
  });
});
