import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connectWith, inClusterAccess, kubeconfigAccess } from "@ferry/common/kube";
import { testKubeconfig, testNamespace } from "@ferry/hack/testing";
import { parse, stringify } from "yaml";

const dir = (t: { after(fn: () => void): void }) => {
  const d = mkdtempSync(join(tmpdir(), "ferry-access-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

const config = (user: object, cluster: object = { server: "https://127.0.0.1:6443" }) => ({
  apiVersion: "v1",
  kind: "Config",
  "current-context": "c",
  contexts: [{ name: "c", context: { cluster: "k", user: "u", namespace: "team-a" } }],
  clusters: [{ name: "k", cluster }],
  users: [{ name: "u", user }],
});

async function applied(path: string): Promise<https.RequestOptions> {
  const options: https.RequestOptions = { headers: {} };
  await kubeconfigAccess(path).apply(options);
  return options;
}

test("kubeconfig users: token, token file and client certificate files, relative to the kubeconfig", async (t) => {
  const d = dir(t);
  writeFileSync(join(d, "token"), "from-a-file\n");
  writeFileSync(join(d, "ca.pem"), "CA PEM");
  writeFileSync(join(d, "c.crt"), "CERT");
  writeFileSync(join(d, "c.key"), "KEY");
  const path = join(d, "config");

  writeFileSync(
    path,
    stringify(config({ token: "inline" }, { server: "https://h:1/", "certificate-authority": "ca.pem" })),
  );
  let o = await applied(path);
  assert.equal((o.headers as Record<string, string>).Authorization, "Bearer inline");
  assert.equal(o.ca, "CA PEM");
  assert.equal(o.rejectUnauthorized, true);
  const access = kubeconfigAccess(path);
  assert.equal(access.server, "https://h:1", "no trailing slash");
  assert.equal(access.namespace, "team-a");

  writeFileSync(path, stringify(config({ tokenFile: "token" })));
  o = await applied(path);
  assert.equal((o.headers as Record<string, string>).Authorization, "Bearer from-a-file");

  writeFileSync(
    path,
    stringify(
      config(
        { "client-certificate": "c.crt", "client-key-data": Buffer.from("INLINE KEY").toString("base64") },
        { server: "https://h:1", "insecure-skip-tls-verify": true },
      ),
    ),
  );
  o = await applied(path);
  assert.equal(String(o.cert), "CERT");
  assert.equal(String(o.key), "INLINE KEY");
  assert.equal(o.rejectUnauthorized, false);
  assert.equal((o.headers as Record<string, string>).Authorization, undefined);
  assert.ok(o.agent, "a keep-alive agent of the access");
});

test("kubeconfig errors name the file and what is missing", (t) => {
  const d = dir(t);
  const path = join(d, "config");
  writeFileSync(path, stringify({ ...config({ token: "x" }), "current-context": undefined }));
  assert.throws(() => kubeconfigAccess(path), { message: `${path} has no current-context` });
  writeFileSync(path, stringify({ ...config({ token: "x" }), "current-context": "nope" }));
  assert.throws(() => kubeconfigAccess(path), { message: `${path}: context nope is not defined` });
  assert.throws(() => kubeconfigAccess(join(d, "absent")), { code: "ENOENT" });
});

test("an exec user goes to client-node, which only then is loaded; simple users never load it", (t) => {
  const d = dir(t);
  const simple = join(d, "simple");
  const exec = join(d, "exec");
  writeFileSync(simple, stringify(config({ token: "x" })));
  writeFileSync(
    exec,
    stringify(
      config({
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "sh",
          args: [
            "-c",
            'echo \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}\'',
          ],
        },
      }),
    ),
  );
  // A process of its own, so what this file's other tests loaded does not count.
  const probe = (path: string) => {
    const code = `
      import { registerHooks } from "node:module";
      let seen = false;
      registerHooks({ resolve(spec, ctx, next) { if (spec.startsWith("@kubernetes/client-node")) seen = true; return next(spec, ctx); } });
      const { kubeconfigAccess } = await import("@ferry/common/kube");
      const options = { headers: {} };
      await kubeconfigAccess(${JSON.stringify(path)}).apply(options);
      console.log(JSON.stringify({ auth: options.headers.Authorization ?? null, clientNode: seen }));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
      cwd: new URL("..", import.meta.url).pathname,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { auth: string | null; clientNode: boolean };
  };
  assert.deepEqual(probe(simple), { auth: "Bearer x", clientNode: false });
  assert.deepEqual(probe(exec), { auth: "Bearer from-exec", clientNode: true });
});

test("in-cluster: the ServiceAccount's token, CA and namespace, against the real API server; the token is read again", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "probe", namespace } });
  const token = await kube.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/probe/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } },
  );
  const admin = parse(readFileSync(testKubeconfig(), "utf8")) as ReturnType<typeof config>;
  const cluster = admin.clusters[0]!.cluster as { server: string; "certificate-authority-data": string };
  const d = dir(t);
  writeFileSync(join(d, "token"), token.status.token);
  writeFileSync(join(d, "ca.crt"), Buffer.from(cluster["certificate-authority-data"], "base64"));
  writeFileSync(join(d, "namespace"), namespace);
  const url = new URL(cluster.server);
  const env = { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
  const access = inClusterAccess(d, env, 0);
  assert.equal(access.namespace, namespace);
  const asProbe = connectWith(access);
  // The probe has no rights: the refusal names who the server took it for.
  const refused = await asProbe.list("v1", "Secret", namespace).catch((err: unknown) => err);
  assert.equal((refused as { code?: number }).code, 403, String(refused));
  assert.match(String((refused as Error).message), new RegExp(`system:serviceaccount:${namespace}:probe`));
  // A rotated token (here: one that is not valid) is what the next request sends.
  writeFileSync(join(d, "token"), "rotated-and-wrong");
  const unauthorized = await asProbe.list("v1", "Secret", namespace).catch((err: unknown) => err);
  assert.equal((unauthorized as { code?: number }).code, 401);
  assert.throws(() => inClusterAccess(d, {}), /KUBERNETES_SERVICE_HOST/);
});
