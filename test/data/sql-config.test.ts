import assert from "node:assert/strict";
import { test } from "node:test";
import { DB_DEFAULTS, DbConfigError, parseDbConfig } from "../../src/index.ts";

function configError(input: unknown): DbConfigError {
  try {
    parseDbConfig(input);
  } catch (error) {
    assert.ok(error instanceof DbConfigError, `expected DbConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be refused`);
}

test("sqlite URLs: relative to the data folder, absolute, memory; defaults applied", () => {
  assert.deepEqual(parseDbConfig("sqlite:game.db", { dataDir: "/srv/app/data" }), {
    dialect: "sqlite",
    url: "sqlite:game.db",
    file: "/srv/app/data/game.db",
    ...DB_DEFAULTS,
  });
  const absolute = parseDbConfig("sqlite:///var/lib/g.db");
  assert.equal(absolute.dialect === "sqlite" && absolute.file, "/var/lib/g.db");
  const memory = parseDbConfig("sqlite::memory:");
  assert.equal(memory.dialect === "sqlite" && memory.file, ":memory:");
});

test("postgres and mysql URLs: parts, defaults, charset, limits from the object form", () => {
  const pg = parseDbConfig({ url: "postgresql://game:s3cret@db.local/world", poolSize: 4, connectTimeoutMs: 500, queryTimeoutMs: 2000 });
  assert.deepEqual(pg, {
    dialect: "postgres",
    url: "postgresql://game:***@db.local/world",
    host: "db.local",
    port: 5432,
    user: "game",
    password: "s3cret",
    database: "world",
    poolSize: 4,
    connectTimeoutMs: 500,
    queryTimeoutMs: 2000,
  });
  const my = parseDbConfig("mysql://127.0.0.1:3307/test?charset=utf8mb4");
  assert.equal(my.dialect, "mysql");
  assert.ok(my.dialect === "mysql");
  assert.equal(my.user, "root");
  assert.equal(my.port, 3307);
  assert.equal(my.charset, "utf8mb4");
  const v6 = parseDbConfig("postgres://u:p%40ss@[::1]:6543/d");
  assert.ok(v6.dialect === "postgres");
  assert.equal(v6.host, "::1");
  assert.equal(v6.password, "p@ss");
});

test("Firefly's db block becomes a MySQL config", () => {
  const config = parseDbConfig({ host: "localhost", user: "root", passwd: "111", port: 3306, db: "anheisg", charset: "utf8" });
  assert.deepEqual(config, {
    dialect: "mysql",
    url: "mysql://root:***@localhost:3306/anheisg",
    host: "localhost",
    port: 3306,
    user: "root",
    password: "111",
    database: "anheisg",
    charset: "utf8",
    ...DB_DEFAULTS,
  });
});

test("malformed URLs are refused with the key and what was expected, never the password", () => {
  const cases: [unknown, RegExp][] = [
    ["redis://localhost/0", /^db: unknown scheme "redis:"; expected sqlite:/],
    ["localhost:5432", /^db: unknown scheme "localhost:"/],
    ["no scheme at all", /^db: no scheme/],
    ["sqlite:", /^db: no file/],
    [{ url: "postgres://u:hunter2@:5432/db" }, /^db\.url: (no host|not a valid URL)/],
    [{ url: "postgres://u:hunter2@h:99999/db" }, /^db\.url: not a valid URL/],
    [{ url: "postgres://u:hunter2@h/" }, /^db\.url: no database name in postgres:\/\/u:\*\*\*@h\/; add \/<database>/],
    [{ url: "mysql://u:hunter2@h/db?ssl=1" }, /^db\.url: unknown query parameter "ssl"; mysql URLs accept charset/],
    [{ url: "mysql://u:hunter2@h/db?charset=utf8;drop" }, /^db\.url \(charset\): expected a MySQL charset name/],
    [{ url: 42 }, /^db\.url: expected a string, received number/],
    [{ url: "sqlite:a.db", poolSize: 0 }, /^db\.poolSize: expected an integer from 1 to 1000, received 0/],
    [{ url: "sqlite:a.db", queryTimeoutMs: "5s" }, /^db\.queryTimeoutMs: expected an integer from 1 to 3600000, received string/],
    [{ url: "sqlite:a.db", pool: 3 }, /^db\.pool: unknown key; expected one of url, poolSize/],
    [{}, /^db: expected a URL string, .* received an empty object/],
    [null, /^db: expected a URL string, .* received null/],
  ];
  for (const [input, expected] of cases) {
    const error = configError(input);
    assert.match(error.issues[0] ?? "", expected, JSON.stringify(input));
    assert.doesNotMatch(error.message, /hunter2/);
  }
});

test("malformed Firefly blocks name the key", () => {
  const cases: [unknown, RegExp][] = [
    [{ host: "h", user: "u", passwd: "hunter2", port: "3306", db: "x" }, /^db\.port: /],
    [{ host: "h", user: "u", passwd: "hunter2" }, /^db\.db: expected the database name/],
    [{ host: "h", passwd: "hunter2", db: "x", engine: "postgresql" }, /^db\.engine: "postgresql" is not supported/],
    [{ host: "h", passwd: "hunter2", db: "x", charset: "utf-8" }, /^db\.charset: expected a MySQL charset name/],
    [{ host: "h", passwd: "hunter2", db: "x", colour: "blue" }, /^db: unknown key\(s\) "colour"/],
    [{ host: "h", passwd: 111, db: "x" }, /^db\.passwd: /],
  ];
  for (const [input, expected] of cases) {
    const error = configError(input);
    assert.match(error.issues.join("\n"), expected, JSON.stringify(input));
    assert.doesNotMatch(error.message, /hunter2|111/);
  }
  assert.match(configError({ host: "h", db: "x", port: 0 }).message, /db\.port: expected 1 to 65535/);
  assert.match(parseDbConfigPathError(), /^game\.db\.url: /);
});

function parseDbConfigPathError(): string {
  try {
    parseDbConfig({ url: "ftp://x" }, { path: "game.db" });
  } catch (error) {
    return (error as DbConfigError).issues[0] ?? "";
  }
  return "";
}
