/** Error classification and redaction, without servers. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyBlobError } from "../../src/dataplane/connectors/azure-blob.ts";
import { classifyMysqlError } from "../../src/dataplane/connectors/mysql.ts";
import { classifyPostgresError } from "../../src/dataplane/connectors/postgres.ts";
import { classifyNetworkError, DataPlaneError, redact } from "../../src/dataplane/errors.ts";
import { afterCall } from "../../src/dataplane/procedure-params.ts";

test("redaction removes every credential and anything shaped like one", () => {
  const creds = { password: "hunter2-pw", accountKey: "a2V5a2V5a2V5", sasToken: "sv=2024&sig=abc%2Fdef" };
  const text = [
    "login failed for hunter2-pw",
    "https://acct.blob.core.windows.net/c/x?sv=2024-01-01&se=2030&sig=SECRETSIG%3D&sp=rw",
    "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SOMEKEY==;EndpointSuffix=core",
    "postgres://user:pa55@host/db",
    "Password=abc;User=x",
  ].join("\n");
  const out = redact(text, creds);
  for (const secret of ["hunter2-pw", "SECRETSIG", "SOMEKEY", "pa55", "Password=abc"])
    assert.ok(!out.includes(secret), `${secret} in ${out}`);
  assert.match(out, /AccountName=a/);
});

test("network errors: reason and whether a retry can help", () => {
  const ctx = { what: "PostgreSQL db:5432/x" };
  const cases: [string, string, boolean][] = [
    ["ENOTFOUND", "DnsFailure", false],
    ["EAI_AGAIN", "DnsFailure", true],
    ["ECONNREFUSED", "ConnectionRefused", true],
    ["ETIMEDOUT", "ConnectionTimeout", true],
    ["ECONNRESET", "ConnectionLost", true],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "TlsError", false],
    ["ERR_TLS_CERT_ALTNAME_INVALID", "TlsError", false],
  ];
  for (const [code, reason, transient] of cases) {
    const e = classifyNetworkError(Object.assign(new Error(`boom ${code}`), { code }), ctx)!;
    assert.equal(e.reason, reason, code);
    assert.equal(e.transient, transient, code);
    assert.match(e.message, /^PostgreSQL db:5432\/x: /);
  }
  assert.equal(classifyNetworkError(new Error("something else"), ctx), undefined);
});

test("server errors by SQLSTATE, errno and storage code", () => {
  const ctx = { what: "x" };
  const pg = (code: string) => classifyPostgresError(Object.assign(new Error("m"), { code }), ctx);
  assert.deepEqual(
    [pg("28P01").reason, pg("42501").reason, pg("42P01").reason, pg("3D000").reason],
    ["AuthenticationFailed", "PermissionDenied", "TableNotFound", "DatabaseNotFound"],
  );
  assert.equal(pg("40P01").transient, true);
  assert.equal(pg("57P01").transient, true);
  assert.equal(pg("22012").transient, false);
  const my = (errno: number) =>
    classifyMysqlError(Object.assign(new Error("m"), { errno, code: "ER_X" }), ctx);
  assert.deepEqual(
    [my(1045).reason, my(1044).reason, my(1146).reason, my(1213).reason],
    ["AuthenticationFailed", "PermissionDenied", "TableNotFound", "ConflictRetry"],
  );
  const blob = (statusCode: number, code: string) =>
    classifyBlobError(Object.assign(new Error("m"), { statusCode, code }), ctx);
  assert.equal(blob(403, "AuthenticationFailed").reason, "AuthenticationFailed");
  assert.equal(blob(403, "AuthorizationPermissionMismatch").reason, "PermissionDenied");
  assert.equal(blob(404, "ContainerNotFound").reason, "ContainerNotFound");
  assert.equal(blob(503, "ServerBusy").transient, true);
});

test("a procedure's failure after the call was sent is not retried", () => {
  const lost = new DataPlaneError("ConnectionLost", "lost", true);
  assert.equal(afterCall(lost, false).transient, true, "before sending: retry");
  assert.equal(afterCall(lost, true).transient, false, "after sending: it may have run");
  assert.equal(afterCall(new DataPlaneError("ConflictRetry", "deadlock", true), true).transient, true);
  assert.equal(afterCall(new DataPlaneError("QueryFailed", "raise", false), true).reason, "ProcedureFailed");
});
