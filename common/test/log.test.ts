import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../src/log.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

test("credential fields are redacted wherever they sit, by configuration", () => {
  const { lines, stream } = capture();
  const log = createLogger("t", "info", stream);
  const plaintext = "s3cr3t-Pa55";
  log.info({ password: plaintext }, "top level");
  log.info({ store: { credentials: { username: "u", password: plaintext } } }, "nested");
  log.info({ job: { source: { password: plaintext } } }, "two deep");
  log.info({ token: plaintext, accountKey: plaintext, connectionString: plaintext }, "others");
  assert.equal(lines.length, 4);
  for (const line of lines) assert.ok(!line.includes(plaintext), `leaked: ${line}`);
  assert.match(lines[0]!, /"password":"\[redacted\]"/);
  assert.match(lines[3]!, /"token":"\[redacted\]"/);
});
