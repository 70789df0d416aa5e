/**
 * The admin token. Firefly's admin port had none: anyone who could reach it could stop the
 * cluster. glowfly takes the token from GLOWFLY_ADMIN_TOKEN, or from a file that the master
 * creates on first start, readable by its owner only.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export const TOKEN_ENV = "GLOWFLY_ADMIN_TOKEN";

/** Read the token (env first, then the file); with `create`, make the file if it is missing. */
export async function loadAdminToken(tokenFile: string, options: { create: boolean; env?: NodeJS.ProcessEnv } = { create: false }): Promise<string> {
  const fromEnv = (options.env ?? process.env)[TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  try {
    const token = (await readFile(tokenFile, "utf8")).trim();
    if (token === "") throw new Error(`admin token file ${tokenFile} is empty`);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !options.create) {
      throw new Error(`no admin token: set ${TOKEN_ENV} or provide ${tokenFile} (${(err as Error).message})`, { cause: err });
    }
  }
  const token = randomBytes(32).toString("hex");
  await mkdir(dirname(tokenFile), { recursive: true, mode: 0o700 });
  // "wx": never overwrite a token another master wrote meanwhile.
  await writeFile(tokenFile, token + "\n", { mode: 0o600, flag: "wx" });
  await chmod(tokenFile, 0o600);
  return token;
}

/** Constant-time comparison, so response timing does not leak the token. */
export function tokenMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
