/**
 * The process runtime against a real control plane, with real processes: one process node serves
 * the file (tainted, so no other test's pods are scheduled onto it), and each test takes a fresh
 * namespace. The pods run hack/test/fixtures/testbin.ts as image `ferry/testbin`.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isConflict, type Kube, type KubeObject } from "@ferry/common/kube";
import { isAlive } from "../src/cluster/process.ts";
import { type ProcessNode, podProcessId, startProcessNode } from "../src/kubelet/index.ts";
import type { Container, ContainerStatus, Pod, PodCondition } from "../src/kubelet/types.ts";
import { eventually, testKube, testKubeconfig, testNamespace } from "../src/testing/index.ts";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const TESTBIN = join(here, "fixtures", "testbin.ts");
const images = { "ferry/testbin": { command: [process.execPath, TESTBIN] } };
const TAINT = { key: "ferry.dev/process-node-test", value: "true", effect: "NoSchedule" as const };
const log = process.env.FERRY_KUBELET_LOG ? (m: string) => console.error(m) : undefined;

let node: ProcessNode;

function nodeOptions(nodeName: string) {
  return {
    kubeconfig: testKubeconfig(),
    nodeName,
    images,
    restartBackoffBaseMs: 500,
    restartBackoffMaxMs: 4000,
    volumeSyncMs: 1000,
    keepLogs: true,
    taints: [TAINT],
    ...(log ? { log } : {}),
  };
}

const uniqueNode = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

before(async () => {
  node = await startProcessNode(nodeOptions(uniqueNode("process-test")));
});

after(async () => {
  await node?.stop({ deleteNode: true });
  await rm(node?.dataDir ?? "/nonexistent", { recursive: true, force: true });
});

// --- builders -------------------------------------------------------------------------------

type PodMod = (pod: Pod) => void;
const main = (pod: Pod): Container => pod.spec.containers[0]!;

function testbinPod(namespace: string, name: string, ...mods: PodMod[]): Pod {
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      nodeName: node.nodeName,
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: "main",
          image: "ferry/testbin:1.0",
          ports: [{ name: "ops", containerPort: 8443 }],
          readinessProbe: { httpGet: { path: "/readyz", port: "ops" }, periodSeconds: 1 },
        },
      ],
    },
  };
  for (const mod of mods) mod(pod);
  return pod;
}

const withEnv =
  (...env: NonNullable<Container["env"]>): PodMod =>
  (pod) => {
    main(pod).env = [...(main(pod).env ?? []), ...env];
  };
const withImage =
  (image: string): PodMod =>
  (pod) => {
    main(pod).image = image;
  };
const withSpec =
  (spec: Partial<Pod["spec"]>): PodMod =>
  (pod) => {
    Object.assign(pod.spec, spec);
  };
const withContainer =
  (fields: Partial<Container>): PodMod =>
  (pod) => {
    Object.assign(main(pod), fields);
  };

// --- helpers --------------------------------------------------------------------------------

const podRef = (namespace: string, name: string) => ({ apiVersion: "v1", kind: "Pod", namespace, name });
const getPod = (kube: Kube, namespace: string, name: string) => kube.get<Pod>(podRef(namespace, name));
const condition = (pod: Pod | undefined, type: string): PodCondition | undefined =>
  pod?.status?.conditions?.find((c) => c.type === type);
const isReady = (pod: Pod | undefined) => condition(pod, "Ready")?.status === "True";
const status = (pod: Pod | undefined): ContainerStatus | undefined => pod?.status?.containerStatuses?.[0];

async function readyPod(kube: Kube, namespace: string, name: string): Promise<Pod> {
  return eventually(`pod ${name} Ready`, async () => {
    const pod = await getPod(kube, namespace, name);
    return isReady(pod) && pod;
  });
}

/** Talks to a pod's testbin on its host port. */
async function testbin<T = Record<string, unknown>>(
  namespace: string,
  pod: string,
  path: string,
  method = "GET",
): Promise<T> {
  const port = node.ports(namespace, pod).ops;
  assert.ok(port, `pod ${pod} has an ops port`);
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return (await res.json()) as T;
}

/** Every container state a pod goes through, as a watch sees it. */
async function recordStates(kube: Kube, namespace: string, name: string) {
  const seen: { state: string; ready: boolean; restartCount: number; lastExit?: number }[] = [];
  const handle = await kube.watch<Pod>(
    "v1",
    "Pod",
    { namespace, fieldSelector: `metadata.name=${name}` },
    (event) => {
      const s = status(event.object);
      if (!s) return;
      const state = s.state.running
        ? "running"
        : s.state.terminated
          ? "terminated"
          : (s.state.waiting?.reason ?? "waiting");
      seen.push({
        state,
        ready: isReady(event.object),
        restartCount: s.restartCount,
        ...(s.lastState.terminated ? { lastExit: s.lastState.terminated.exitCode } : {}),
      });
    },
  );
  handle.done.catch(() => {});
  return { seen, stop: () => handle.abort() };
}

// --- tests ----------------------------------------------------------------------------------

test("the node registers Ready, labelled, with a Lease in kube-node-lease", async () => {
  const kube = testKube();
  const registered = await kube.get<
    KubeObject & { spec?: { taints?: { key: string }[] }; status?: { conditions?: PodCondition[] } }
  >({ apiVersion: "v1", kind: "Node", name: node.nodeName });
  assert.ok(registered);
  assert.equal(registered.metadata.labels?.["ferry.dev/process-node"], "true");
  assert.equal(registered.metadata.labels?.["kubernetes.io/hostname"], node.nodeName);
  assert.equal(registered.metadata.labels?.["kubernetes.io/os"], "linux");
  assert.equal(registered.metadata.annotations?.["kwok.x-k8s.io/node"], undefined, "not kwok's to fake");
  assert.ok(registered.spec?.taints?.some((t) => t.key === TAINT.key));
  assert.equal(registered.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
  const lease = await kube.get<KubeObject & { spec: { holderIdentity: string; renewTime: string } }>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace: "kube-node-lease",
    name: node.nodeName,
  });
  assert.equal(lease?.spec.holderIdentity, node.nodeName);
  assert.ok(Date.now() - Date.parse(lease?.spec.renewTime ?? "") < 30_000, "renewed recently");
});

test("a pod runs as a process and turns Ready only once its readiness probe passes", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(testbinPod(namespace, "probe", withEnv({ name: "TESTBIN_READY", value: "manual" })));
  const running = await eventually("Running with the process started", async () => {
    const pod = await getPod(kube, namespace, "probe");
    return pod?.status?.phase === "Running" && status(pod)?.started && pod;
  });
  const stats = await eventually("two failed readiness probes", async () => {
    const s = await testbin<{ probes: { readyz: number }; pid: number; hostname: string }>(
      namespace,
      "probe",
      "/stats",
    );
    return s.probes.readyz >= 2 && s;
  });
  const notReady = await getPod(kube, namespace, "probe");
  assert.equal(condition(notReady, "Ready")?.status, "False");
  assert.equal(condition(notReady, "Ready")?.reason, "ContainersNotReady");
  assert.equal(condition(notReady, "PodScheduled")?.status, "True");
  assert.equal(status(notReady)?.ready, false);
  assert.equal(notReady?.status?.podIP, "127.0.0.1");
  assert.equal(notReady?.status?.hostIP, "127.0.0.1");
  assert.ok(running.status?.startTime);
  assert.equal(status(running)?.image, "ferry/testbin:1.0");
  assert.equal(status(running)?.restartCount, 0);
  assert.equal(stats.pid, node.pid(namespace, "probe"), "the process is the one the runtime started");
  assert.equal(status(running)?.containerID, `process://${stats.pid}`);
  assert.equal(stats.hostname, "probe", "the pod's hostname, in a UTS namespace of its own");

  await testbin(namespace, "probe", "/ready", "POST");
  const ready = await readyPod(kube, namespace, "probe");
  assert.equal(status(ready)?.ready, true);
  assert.equal(condition(ready, "ContainersReady")?.status, "True");
});

test("an HTTPS readiness probe does not verify the certificate, as kubelet's does not", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const dir = await mkdtemp(join(tmpdir(), "ferry-kubelet-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"],
    ...["-subj", "/CN=self-signed", "-keyout", join(dir, "tls.key"), "-out", join(dir, "tls.crt")],
  ]);
  const pem = (f: string) => readFileSync(join(dir, f)).toString("base64");
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "node-tls", namespace },
    type: "kubernetes.io/tls",
    data: { "tls.crt": pem("tls.crt"), "tls.key": pem("tls.key") },
  } as KubeObject);
  await kube.create(
    testbinPod(
      namespace,
      "https",
      withSpec({ volumes: [{ name: "tls", secret: { secretName: "node-tls", defaultMode: 0o400 } }] }),
      withContainer({
        volumeMounts: [{ name: "tls", mountPath: "/var/run/ferry/tls", readOnly: true }],
        readinessProbe: { httpGet: { path: "/readyz", port: "ops", scheme: "HTTPS" }, periodSeconds: 1 },
      }),
      withEnv({ name: "TESTBIN_TLS_DIR", value: "/var/run/ferry/tls" }),
    ),
  );
  await readyPod(kube, namespace, "https");
  assert.match(readFileSync(node.logFile(namespace, "https") ?? "", "utf8"), /listening on https:/);
});

test("the environment: values, fieldRefs, Secret and ConfigMap keys, $(VAR), FERRY_PORT_*, and nothing else of the host", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "creds", namespace },
    stringData: { password: "s3cret" },
  } as KubeObject);
  await kube.create({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "settings", namespace },
    data: { level: "debug" },
  } as KubeObject);
  const pod = await kube.create(
    testbinPod(
      namespace,
      "env",
      withEnv(
        { name: "PLAIN", value: "plain" },
        { name: "EXPANDED", value: "$(PLAIN)-and-$(POD_NAME)" },
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "POD_UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
        { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "SA_NAME", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "settings", key: "level" } } },
        { name: "ABSENT", valueFrom: { secretKeyRef: { name: "no-such-secret", key: "x", optional: true } } },
      ),
      withContainer({ ports: [{ name: "ops", containerPort: 8443 }, { containerPort: 9090 }] }),
    ),
  );
  await readyPod(kube, namespace, "env");
  const env = await testbin<Record<string, string>>(namespace, "env", "/env");
  const ports = node.ports(namespace, "env");
  assert.deepEqual(
    {
      PLAIN: env.PLAIN,
      EXPANDED: env.EXPANDED,
      POD_NAME: env.POD_NAME,
      POD_NAMESPACE: env.POD_NAMESPACE,
      POD_UID: env.POD_UID,
      NODE_NAME: env.NODE_NAME,
      SA_NAME: env.SA_NAME,
      POD_IP: env.POD_IP,
      PASSWORD: env.PASSWORD,
      LEVEL: env.LEVEL,
      FERRY_PORT_OPS: env.FERRY_PORT_OPS,
      FERRY_IMAGE_TAG: env.FERRY_IMAGE_TAG,
      HOSTNAME: env.HOSTNAME,
      KUBERNETES_SERVICE_HOST: env.KUBERNETES_SERVICE_HOST,
      KUBERNETES_SERVICE_PORT: env.KUBERNETES_SERVICE_PORT,
    },
    {
      PLAIN: "plain",
      // POD_NAME comes after EXPANDED in the list, so it is not expanded (kubelet's order rule).
      EXPANDED: "plain-and-$(POD_NAME)",
      POD_NAME: "env",
      POD_NAMESPACE: namespace,
      POD_UID: pod.metadata.uid,
      NODE_NAME: node.nodeName,
      SA_NAME: "default",
      POD_IP: "127.0.0.1",
      PASSWORD: "s3cret",
      LEVEL: "debug",
      FERRY_PORT_OPS: String(ports.ops),
      FERRY_IMAGE_TAG: "1.0",
      HOSTNAME: "env",
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: new URL(kube.server).port,
    },
  );
  assert.match(env.FERRY_PORT_9090 ?? "", /^\d+$/, "an unnamed port is known by its number");
  assert.notEqual(env.FERRY_PORT_OPS, "8443", "a host port of its own, not the containerPort");
  const expected = new Set([
    ...["PATH", "HOME", "HOSTNAME", "FERRY_IMAGE_TAG", "FERRY_PORT_OPS", "FERRY_PORT_9090"],
    ...["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PORT_HTTPS"],
    ...["PLAIN", "EXPANDED", "POD_NAME", "POD_NAMESPACE", "POD_UID", "NODE_NAME", "SA_NAME", "POD_IP"],
    ...["PASSWORD", "LEVEL"],
  ]);
  assert.deepEqual(Object.keys(env).sort(), [...expected].sort(), "nothing else of the host's environment");
  assert.ok(process.env.FERRY_KUBECONFIG, "the test process has variables that must not leak");
});

test("a Secret volume is at its mountPath, read-only, follows the Secret, and the host's path stays untouched", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const hostHad = { run: existsSync("/var/run/ferry"), data: existsSync("/ferry-scratch") };
  const secret = (key: string) =>
    ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "gw-credential-key", namespace },
      stringData: { "private.key": key, "public.key": "not mounted" },
    }) as KubeObject;
  await kube.create(secret("key-one"));
  await kube.create(
    testbinPod(
      namespace,
      "volumes",
      withSpec({
        volumes: [
          {
            name: "credential-key",
            secret: {
              secretName: "gw-credential-key",
              defaultMode: 0o400,
              items: [{ key: "private.key", path: "private.key" }],
            },
          },
          { name: "scratch", emptyDir: {} },
        ],
      }),
      withContainer({
        volumeMounts: [
          { name: "credential-key", mountPath: "/var/run/ferry/credential-key", readOnly: true },
          // A new top-level folder: the process sees a copy of / with it (see mount-plan.ts).
          { name: "scratch", mountPath: "/ferry-scratch" },
        ],
      }),
    ),
  );
  await readyPod(kube, namespace, "volumes");
  const files = await testbin(namespace, "volumes", "/files?path=/var/run/ferry/credential-key");
  assert.deepEqual(
    files,
    { "private.key": { mode: "400", content: "key-one" } },
    "only the listed item, with its mode",
  );
  const write = await testbin<{ ok: boolean; code?: string }>(
    namespace,
    "volumes",
    "/write?path=/var/run/ferry/credential-key/x",
    "POST",
  );
  assert.deepEqual(write, { ok: false, code: "EROFS" });
  assert.deepEqual(await testbin(namespace, "volumes", "/write?path=/ferry-scratch/x", "POST"), { ok: true });
  assert.deepEqual(
    await testbin(namespace, "volumes", "/files?path=/ferry-scratch/x"),
    "written by testbin" as unknown,
  );
  assert.deepEqual(
    { run: existsSync("/var/run/ferry"), data: existsSync("/ferry-scratch") },
    hostHad,
    "the mount points exist only inside the pod's mount namespace",
  );

  await kube.apply(secret("key-two"), "ferry-tests");
  await eventually("the new key inside the process", async () => {
    const now = await testbin<Record<string, { content: string }>>(
      namespace,
      "volumes",
      "/files?path=/var/run/ferry/credential-key",
    );
    return now["private.key"]?.content === "key-two";
  });
});

test("a pod whose Secret is missing waits in ContainerCreating, says why, and starts once it exists", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(
    testbinPod(
      namespace,
      "waits",
      withSpec({ volumes: [{ name: "tls", secret: { secretName: "late-tls" } }] }),
      withContainer({ volumeMounts: [{ name: "tls", mountPath: "/var/run/ferry/tls", readOnly: true }] }),
    ),
  );
  await eventually("a FailedMount event", async () => {
    const events = await kube.list<KubeObject & { reason: string; message: string }>(
      "v1",
      "Event",
      namespace,
    );
    return events.some(
      (e) => e.reason === "FailedMount" && e.message.includes('secret "late-tls" not found'),
    );
  });
  const waiting = await getPod(kube, namespace, "waits");
  assert.equal(waiting?.status?.phase, "Pending");
  assert.equal(status(waiting)?.state.waiting?.reason, "ContainerCreating");
  assert.equal(condition(waiting, "PodReadyToStartContainers")?.status, "False");
  await kube.create({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "late-tls", namespace },
    stringData: { "tls.crt": "c" },
  } as KubeObject);
  await readyPod(kube, namespace, "waits");
  const files = await testbin<Record<string, { content: string }>>(
    namespace,
    "waits",
    "/files?path=/var/run/ferry/tls",
  );
  assert.equal(files["tls.crt"]?.content, "c");
});

test("the mounted ServiceAccount token identifies the pod to the API server", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const pod = await kube.create(testbinPod(namespace, "identity"));
  await readyPod(kube, namespace, "identity");
  const review = await testbin<{
    status: number;
    body: { status: { userInfo: { username: string; extra: Record<string, string[]> } } };
  }>(namespace, "identity", "/whoami");
  assert.equal(review.status, 201);
  const user = review.body.status.userInfo;
  assert.equal(user.username, `system:serviceaccount:${namespace}:default`);
  assert.deepEqual(
    user.extra["authentication.kubernetes.io/pod-name"],
    ["identity"],
    "a token bound to this pod",
  );
  assert.deepEqual(user.extra["authentication.kubernetes.io/pod-uid"], [pod.metadata.uid]);
  const sa = await testbin<Record<string, { content: string }>>(
    namespace,
    "identity",
    "/files?path=/var/run/secrets/kubernetes.io/serviceaccount",
  );
  assert.equal(sa.namespace?.content, namespace);
  assert.match(sa["ca.crt"]?.content ?? "", /BEGIN CERTIFICATE/);
});

test("a killed process is restarted: CrashLoopBackOff, restartCount 1, Running and Ready again", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(testbinPod(namespace, "crash"));
  await readyPod(kube, namespace, "crash");
  const states = await recordStates(kube, namespace, "crash");
  t.after(states.stop);
  const first = node.kill(namespace, "crash");
  assert.ok(first, "the pod had a process to kill");
  const back = await eventually("running again after one restart", async () => {
    const pod = await getPod(kube, namespace, "crash");
    return status(pod)?.restartCount === 1 && isReady(pod) && pod;
  });
  assert.equal(isAlive(first), false);
  assert.notEqual(node.pid(namespace, "crash"), first, "a new process");
  assert.equal(status(back)?.lastState.terminated?.exitCode, 137, "SIGKILL, as kubelet reports it");
  assert.ok(
    states.seen.some((s) => s.state === "CrashLoopBackOff" && !s.ready && s.lastExit === 137),
    `CrashLoopBackOff seen: ${JSON.stringify(states.seen)}`,
  );
  assert.equal(back.status?.phase, "Running");
});

test("a liveness probe that fails gets the process killed and restarted", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(
    testbinPod(
      namespace,
      "liveness",
      withContainer({
        livenessProbe: { httpGet: { path: "/healthz", port: "ops" }, periodSeconds: 1, failureThreshold: 2 },
      }),
      withEnv({ name: "TESTBIN_TERM_DELAY_MS", value: "0" }),
    ),
  );
  await readyPod(kube, namespace, "liveness");
  const before = node.pid(namespace, "liveness");
  await testbin(namespace, "liveness", "/unhealthy", "POST");
  await eventually("restarted after the liveness probe failed", async () => {
    const pod = await getPod(kube, namespace, "liveness");
    return status(pod)?.restartCount === 1 && isReady(pod);
  });
  assert.notEqual(node.pid(namespace, "liveness"), before);
  const logText = readFileSync(node.logFile(namespace, "liveness") ?? "", "utf8");
  assert.match(logText, /liveness probe failed/);
  assert.match(logText, /testbin: received SIGTERM/, "stopped with SIGTERM first, as kubelet does");
});

test("an image tagged broken never becomes Ready and keeps restarting", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const states = await recordStates(kube, namespace, "bad-release");
  t.after(states.stop);
  await kube.create(testbinPod(namespace, "bad-release", withImage("ferry/testbin:broken")));
  const pod = await eventually("two restarts", async () => {
    const p = await getPod(kube, namespace, "bad-release");
    return (status(p)?.restartCount ?? 0) >= 2 && p;
  });
  assert.equal(status(pod)?.lastState.terminated?.exitCode, 1);
  assert.ok(states.seen.some((s) => s.state === "CrashLoopBackOff"));
  assert.ok(
    states.seen.every((s) => !s.ready),
    "never Ready",
  );
  assert.match(
    readFileSync(node.logFile(namespace, "bad-release") ?? "", "utf8"),
    /deliberately broken build/,
  );
});

test("an image changed in place restarts the container: an upgrade, a broken release, a rollback", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(testbinPod(namespace, "upgrade"));
  await readyPod(kube, namespace, "upgrade");
  // A PUT (a merge patch would replace the whole container list); the runtime writes the status
  // meanwhile, so a conflict is retried.
  const setImage = (image: string) =>
    eventually(`image ${image} set`, async () => {
      const pod = (await getPod(kube, namespace, "upgrade"))!;
      main(pod).image = image;
      return kube.replace(pod).then(
        () => true,
        (err) => (isConflict(err) ? false : Promise.reject(err)),
      );
    });
  const tagInside = async () =>
    (await testbin<Record<string, string>>(namespace, "upgrade", "/env")).FERRY_IMAGE_TAG;

  await setImage("ferry/testbin:2.0");
  await eventually("running 2.0", async () => {
    const pod = await getPod(kube, namespace, "upgrade");
    return isReady(pod) && status(pod)?.image === "ferry/testbin:2.0" && (await tagInside()) === "2.0";
  });
  assert.equal(status(await getPod(kube, namespace, "upgrade"))?.restartCount, 1);

  await setImage("ferry/testbin:broken");
  await eventually("the broken release crash-loops", async () => {
    const pod = await getPod(kube, namespace, "upgrade");
    return (
      status(pod)?.state.waiting?.reason === "CrashLoopBackOff" &&
      status(pod)?.lastState.terminated?.exitCode === 1
    );
  });
  await setImage("ferry/testbin:2.0");
  await eventually(
    "rolled back and Ready",
    async () => isReady(await getPod(kube, namespace, "upgrade")) && (await tagInside()) === "2.0",
  );
});

test("an image missing from the image map waits in ErrImagePull and ImagePullBackOff, Pending", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const states = await recordStates(kube, namespace, "no-image");
  t.after(states.stop);
  await kube.create(testbinPod(namespace, "no-image", withImage("ferry/not-built:1")));
  await eventually("ImagePullBackOff after ErrImagePull", async () => {
    const reasons = states.seen.map((s) => s.state);
    return reasons.includes("ErrImagePull") && reasons.includes("ImagePullBackOff");
  });
  const pod = await getPod(kube, namespace, "no-image");
  assert.equal(pod?.status?.phase, "Pending");
  assert.match(status(pod)?.state.waiting?.message ?? "", /not-built/);
  assert.equal(await kube.delete(podRef(namespace, "no-image")), true);
  await eventually(
    "a pod that never ran is deleted at once",
    async () => !(await getPod(kube, namespace, "no-image")),
    {
      timeoutMs: 5000,
    },
  );
});

test("restartPolicy Never: exit 0 is Succeeded, exit 3 is Failed", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  for (const name of ["exit-0", "exit-3"])
    await kube.create(testbinPod(namespace, name, withSpec({ restartPolicy: "Never" })));
  for (const name of ["exit-0", "exit-3"]) await readyPod(kube, namespace, name);
  await testbin(namespace, "exit-0", "/exit?code=0", "POST");
  await testbin(namespace, "exit-3", "/exit?code=3", "POST");
  for (const [name, phase, code] of [
    ["exit-0", "Succeeded", 0],
    ["exit-3", "Failed", 3],
  ] as const) {
    const pod = await eventually(`${name} ${phase}`, async () => {
      const p = await getPod(kube, namespace, name);
      return p?.status?.phase === phase && p;
    });
    assert.equal(status(pod)?.state.terminated?.exitCode, code);
    assert.equal(status(pod)?.restartCount, 0);
    assert.equal(condition(pod, "Ready")?.reason, "PodCompleted");
  }
});

test("deleting a pod sends SIGTERM; the object disappears once the process is gone", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(
    testbinPod(namespace, "graceful", withEnv({ name: "TESTBIN_TERM_DELAY_MS", value: "300" })),
  );
  const ready = await readyPod(kube, namespace, "graceful");
  const pid = node.pid(namespace, "graceful")!;
  const folder = join(node.dataDir, "pods", ready.metadata.uid ?? "");
  assert.equal(statSync(folder).mode & 0o777, 0o700, "the pod's files are private to it");
  assert.equal(await kube.delete(podRef(namespace, "graceful")), true);
  await eventually("the pod object is gone", async () => !(await getPod(kube, namespace, "graceful")));
  assert.equal(isAlive(pid), false);
  const text = readFileSync(node.logFile(namespace, "graceful") ?? "", "utf8");
  assert.match(text, /testbin: received SIGTERM/);
  assert.match(text, /exited with code 0/);
  assert.doesNotMatch(text, /SIGKILL/);
  await eventually("the pod's folder removed with it", async () => !existsSync(folder), { timeoutMs: 5000 });
});

test("a process that ignores SIGTERM is killed when the grace period ends", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await kube.create(
    testbinPod(
      namespace,
      "stubborn",
      withSpec({ terminationGracePeriodSeconds: 1 }),
      withEnv({ name: "TESTBIN_IGNORE_TERM", value: "true" }),
    ),
  );
  await readyPod(kube, namespace, "stubborn");
  const pid = node.pid(namespace, "stubborn")!;
  const started = Date.now();
  await kube.delete(podRef(namespace, "stubborn"));
  await eventually("the pod object is gone", async () => !(await getPod(kube, namespace, "stubborn")));
  const took = Date.now() - started;
  assert.ok(took >= 1000 && took < 6000, `gone after the 1 s grace period (${took} ms)`);
  assert.equal(isAlive(pid), false);
  assert.match(readFileSync(node.logFile(namespace, "stubborn") ?? "", "utf8"), /grace period over: SIGKILL/);
});

test("a Deployment is scheduled onto the process node; deleting it garbage-collects the pods and ends the processes", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const labels = { app: "replicated" };
  await kube.create({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "replicated", namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { "kubernetes.io/hostname": node.nodeName },
          tolerations: [{ key: TAINT.key, operator: "Exists", effect: "NoSchedule" }],
          terminationGracePeriodSeconds: 5,
          containers: [testbinPod(namespace, "x").spec.containers[0]],
        },
      },
    },
  } as KubeObject);
  const pods = await eventually("two Ready replicas on the process node", async () => {
    const list = await kube.list<Pod>("v1", "Pod", namespace, { labelSelector: "app=replicated" });
    const ready = list.filter((p) => isReady(p) && p.spec.nodeName === node.nodeName);
    return ready.length === 2 && ready;
  });
  const pids = pods.map((p) => node.pid(namespace, p.metadata.name));
  assert.ok(pids.every((pid) => pid !== undefined && isAlive(pid)));
  await kube.delete({ apiVersion: "apps/v1", kind: "Deployment", namespace, name: "replicated" });
  await eventually("replicas garbage-collected", async () => {
    const list = await kube.list<Pod>("v1", "Pod", namespace, { labelSelector: "app=replicated" });
    return list.length === 0;
  });
  assert.ok(
    pids.every((pid) => !isAlive(pid!)),
    "every process has exited",
  );
});

test("stopping a node stops its processes (children too), marks the pods Failed and the node NotReady", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const second = await startProcessNode(nodeOptions(uniqueNode("process-stop")));
  t.after(() => kube.delete({ apiVersion: "v1", kind: "Node", name: second.nodeName }));
  t.after(() => rm(second.dataDir, { recursive: true, force: true }));
  for (const name of ["a", "b"])
    await kube.create(testbinPod(namespace, name, withSpec({ nodeName: second.nodeName })));
  const port = () => second.ports(namespace, "a").ops;
  await eventually("both Ready", async () =>
    (await Promise.all(["a", "b"].map((n) => getPod(kube, namespace, n)))).every(isReady),
  );
  const child = (
    (await (await fetch(`http://127.0.0.1:${port()}/spawn`, { method: "POST" })).json()) as { pid: number }
  ).pid;
  const pids = [second.pid(namespace, "a")!, second.pid(namespace, "b")!, child];
  assert.ok(pids.every(isAlive));
  await second.stop();
  assert.deepEqual(pids.filter(isAlive), [], "no process left behind");
  assert.equal(existsSync(join(second.dataDir, "pods")), false, "pod folders removed");
  for (const name of ["a", "b"]) {
    const pod = await getPod(kube, namespace, name);
    assert.equal(pod?.status?.phase, "Failed", "graceful node shutdown ends the pod");
    assert.equal(pod?.status?.reason, "Terminated");
    assert.equal(condition(pod, "DisruptionTarget")?.status, "True");
  }
  const stopped = await kube.get<KubeObject & { status?: { conditions?: PodCondition[] } }>({
    apiVersion: "v1",
    kind: "Node",
    name: second.nodeName,
  });
  assert.equal(stopped?.status?.conditions?.find((c) => c.type === "Ready")?.status, "False");
});

test("a node stopped like a dead kubelet kills its processes and leaves the API as it was", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const dead = await startProcessNode(nodeOptions(uniqueNode("process-dead")));
  t.after(() => kube.delete({ apiVersion: "v1", kind: "Node", name: dead.nodeName }));
  t.after(() => rm(dead.dataDir, { recursive: true, force: true }));
  await kube.create(testbinPod(namespace, "orphan", withSpec({ nodeName: dead.nodeName })));
  await readyPod(kube, namespace, "orphan");
  const pid = dead.pid(namespace, "orphan")!;
  await dead.stop({ leavePods: true });
  assert.equal(isAlive(pid), false);
  const pod = await getPod(kube, namespace, "orphan");
  assert.equal(pod?.status?.phase, "Running", "nobody told the API server");
  assert.equal(isReady(pod), true);
});

test("the CLI runs a node from an image map file and stops its pods on SIGTERM", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const dir = await mkdtemp(join(tmpdir(), "ferry-kubelet-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "images.json"), JSON.stringify(images));
  const nodeName = uniqueNode("process-cli");
  t.after(() => kube.delete({ apiVersion: "v1", kind: "Node", name: nodeName }));
  const cli = spawn(
    process.execPath,
    [
      join(here, "../src/kubelet/main.ts"),
      "--kubeconfig",
      testKubeconfig(),
      "--node",
      nodeName,
      "--images",
      join(dir, "images.json"),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  cli.stdout.on("data", (c) => (output += c));
  cli.stderr.on("data", (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => cli.on("exit", resolve));
  t.after(() => cli.kill("SIGKILL"));
  await eventually("the CLI is ready", async () => output.includes("ready\n"), { timeoutMs: 20_000 });
  assert.equal(readFileSync(`/proc/${cli.pid}/cmdline`, "utf8").split("\0")[0], "ferry-process-node");
  await kube.create(testbinPod(namespace, "via-cli", withSpec({ nodeName })));
  const pod = await readyPod(kube, namespace, "via-cli");
  const pid = podProcessId(pod);
  assert.ok(pid && isAlive(pid), "the pod's status names its process");
  cli.kill("SIGTERM");
  assert.equal(await exited, 0, output);
  assert.equal(isAlive(pid), false);
  const after = await getPod(kube, namespace, "via-cli");
  assert.equal(after?.status?.phase, "Failed");
});
