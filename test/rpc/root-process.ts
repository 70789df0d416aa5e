/**
 * A root in its own process, for the test that kills it: prints its port as one JSON line,
 * serves "hang" (never answers) and "echo".
 */
import { RootServer, service, silentLogger } from "../../src/index.ts";

const root = new RootServer({ name: process.argv[2] ?? "gate", logger: silentLogger });
root.services.handle(service<[], never>("hang"), () => new Promise<never>(() => {}));
root.services.handle(service<[unknown], unknown>("echo"), ([value]) => value);
const { port } = await root.listen();
process.stdout.write(JSON.stringify({ port }) + "\n");
