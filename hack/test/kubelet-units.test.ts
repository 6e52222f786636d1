/**
 * The process runtime's pure rules, table by table: no API server, no processes.
 */
import assert from "node:assert/strict";
import { lstat, mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Payload, writeAtomically } from "../src/kubelet/atomic-writer.ts";
import { backoffPolicy, nextDelay } from "../src/kubelet/backoff.ts";
import { expand } from "../src/kubelet/env.ts";
import { type ImageMap, parseImage, resolveLaunch } from "../src/kubelet/images.ts";
import { type HostKind, type HostView, mountScript } from "../src/kubelet/mount-plan.ts";
import { portEnvName, resolvePort } from "../src/kubelet/ports.ts";
import { desiredStatus, podPhase, statusPatch } from "../src/kubelet/status.ts";
import { needsRefresh } from "../src/kubelet/tokens.ts";
import type { ContainerState, Pod } from "../src/kubelet/types.ts";

describe("images", () => {
  test("parseImage splits repository and tag", () => {
    const cases: [string, string, string][] = [
      ["ferry/agent:1.2.0", "ferry/agent", "1.2.0"],
      ["ferry/agent", "ferry/agent", "latest"],
      ["localhost:5000/ferry/agent:dev", "localhost:5000/ferry/agent", "dev"],
      ["ferry/agent:1@sha256:abc", "ferry/agent", "1"],
    ];
    for (const [image, repository, tag] of cases)
      assert.deepEqual(parseImage(image), { repository, tag }, image);
  });

  const images: ImageMap = {
    "ferry/agent": { command: ["node", "agent.ts"], args: ["--default"], env: { FROM_IMAGE: "1" } },
    "ferry-agent": { command: ["node", "agent.ts"], env: { FROM_COMMAND: "1" } },
  };
  const opts = { brokenTag: "broken", execPath: "/usr/bin/node" };
  const cases: {
    name: string;
    container: { image: string; command?: string[]; args?: string[] };
    argv?: string[];
    error?: string;
  }[] = [
    {
      name: "entry point and default args",
      container: { image: "ferry/agent:1" },
      argv: ["node", "agent.ts", "--default"],
    },
    {
      name: "args replace the default args",
      container: { image: "ferry/agent:1", args: ["-v"] },
      argv: ["node", "agent.ts", "-v"],
    },
    {
      name: "a command word in the map",
      container: { image: "ferry/agent:1", command: ["ferry-agent", "--x"], args: ["y"] },
      argv: ["node", "agent.ts", "--x", "y"],
    },
    {
      name: "a command word not in the map runs from the host",
      container: { image: "ferry/agent:1", command: ["sh", "-c", "true"] },
      argv: ["sh", "-c", "true"],
    },
    {
      name: "a registry in front",
      container: { image: "registry.example:5000/ferry/agent:1" },
      argv: ["node", "agent.ts", "--default"],
    },
    { name: "an unknown repository", container: { image: "ferry/nope:1" }, error: "ErrImagePull" },
  ];
  for (const c of cases) {
    test(`resolveLaunch: ${c.name}`, () => {
      const launch = resolveLaunch(c.container, images, opts);
      if (c.error) return assert.equal(launch.ok ? "ok" : launch.reason, c.error);
      assert.ok(launch.ok);
      assert.deepEqual(launch.argv, c.argv);
      assert.equal(launch.tag, "1");
    });
  }

  test("resolveLaunch: the broken tag runs a process that fails, with the image's env", () => {
    const launch = resolveLaunch({ image: "ferry/agent:broken" }, images, opts);
    assert.ok(launch.ok);
    assert.equal(launch.argv[0], "/usr/bin/node");
    assert.match(launch.argv[2] ?? "", /process\.exit\(1\)/);
    assert.deepEqual(launch.env, { FROM_IMAGE: "1" });
  });
});

test("expand follows kubelet's $(VAR) rules", () => {
  const vars: Record<string, string> = { A: "a", EMPTY: "" };
  const cases: [string, string][] = [
    ["$(A)-x", "a-x"],
    ["$(MISSING)", "$(MISSING)"],
    ["$$(A)", "$(A)"],
    ["$(EMPTY)!", "!"],
    ["cost $5", "cost $5"],
    ["$(A", "$(A"],
    ["$", "$"],
  ];
  for (const [input, want] of cases)
    assert.equal(
      expand(input, (n) => vars[n]),
      want,
      input,
    );
});

test("ports: env names and probe targets", () => {
  assert.equal(portEnvName({ name: "ops", containerPort: 8443 }), "FERRY_PORT_OPS");
  assert.equal(portEnvName({ name: "grpc-web", containerPort: 1 }), "FERRY_PORT_GRPC_WEB");
  assert.equal(portEnvName({ containerPort: 9090 }), "FERRY_PORT_9090");
  const ports = { byName: { ops: 40001 }, byNumber: { 8443: 40001 } };
  assert.equal(resolvePort("ops", ports), 40001);
  assert.equal(resolvePort(8443, ports), 40001);
  assert.equal(resolvePort("8443", ports), 40001);
  assert.equal(resolvePort(7000, ports), 7000, "an undeclared number is a host port as it is");
  assert.equal(resolvePort("metrics", ports), undefined);
});

test("crash-loop backoff doubles to the cap and resets after a long run", () => {
  const policy = backoffPolicy(10_000);
  let crashes = 0;
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    const next = nextDelay(policy, crashes, 1000);
    crashes = next.crashes;
    delays.push(next.delayMs / 1000);
  }
  assert.deepEqual(delays, [10, 20, 40, 80, 160, 300, 300]);
  assert.equal(nextDelay(policy, crashes, 600_000).delayMs, 10_000, "ten minutes of running forgives");
});

test("tokens are refreshed at 80% of their lifetime", () => {
  const issuedAt = 0;
  const expiresAt = 3600_000;
  assert.equal(needsRefresh({ issuedAt, expiresAt }, 2879_000), false);
  assert.equal(needsRefresh({ issuedAt, expiresAt }, 2880_000), true);
});

describe("phase", () => {
  const running: ContainerState = { running: { startedAt: "t" } };
  const waiting: ContainerState = { waiting: { reason: "ContainerCreating" } };
  const backoff: ContainerState = { waiting: { reason: "CrashLoopBackOff" } };
  const exited = (exitCode: number): ContainerState => ({
    terminated: { exitCode, reason: "x", finishedAt: "t" },
  });
  const c = (state: ContainerState, lastState: ContainerState = {}) => ({ state, lastState });
  const cases: [string, string | undefined, ReturnType<typeof c>[], string, boolean?][] = [
    ["nothing started yet", "Always", [c(waiting)], "Pending"],
    ["one running", "Always", [c(running)], "Running"],
    ["one running, one not started", "Always", [c(running), c(waiting)], "Pending"],
    ["crash-looping is still Running", "Always", [c(backoff, exited(1))], "Running"],
    ["Never, exit 0", "Never", [c(exited(0))], "Succeeded"],
    ["Never, exit 3", "Never", [c(exited(3))], "Failed"],
    ["OnFailure, exit 0", "OnFailure", [c(exited(0))], "Succeeded"],
    ["OnFailure, restarting after exit 3", "OnFailure", [c(backoff, exited(3))], "Running"],
    ["deleted after a clean SIGTERM exit", "Always", [c(exited(0))], "Succeeded", true],
    ["deleted, killed", "Always", [c(exited(137))], "Failed", true],
    ["deleted before it ever ran", "Always", [c(waiting)], "Failed", true],
  ];
  for (const [name, policy, containers, phase, terminal] of cases) {
    test(name, () => assert.equal(podPhase(policy, containers, terminal), phase));
  }
});

describe("status", () => {
  const pod = (
    conditions: { type: string; status: "True" | "False"; lastTransitionTime: string }[] = [],
  ): Pod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "ns", uid: "u" },
    spec: { restartPolicy: "Always", containers: [{ name: "main", image: "ferry/testbin:1" }] },
    status: { conditions },
  });
  const view = (ready: boolean) => ({
    containers: [
      {
        name: "main",
        image: "ferry/testbin:1",
        imageID: "process://ferry/testbin:1",
        state: { running: { startedAt: "2025-01-01T00:00:00Z" } },
        lastState: {},
        ready,
        started: true,
        restartCount: 0,
      },
    ],
    startTime: "2025-01-01T00:00:00Z",
    sandboxReady: true,
  });

  test("Ready follows the containers; lastTransitionTime moves only on a flip; others' conditions stay", () => {
    const stored = pod([
      { type: "Ready", status: "False", lastTransitionTime: "T0" },
      { type: "example.com/gate", status: "True", lastTransitionTime: "T0" },
    ]);
    const notReady = desiredStatus(stored, view(false), "T1");
    const ready = notReady.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.lastTransitionTime, "T0", "no flip");
    assert.equal(ready?.reason, "ContainersNotReady");
    assert.ok(
      notReady.conditions?.some((c) => c.type === "example.com/gate"),
      "a condition of another writer is kept",
    );
    const flipped = desiredStatus(stored, view(true), "T2").conditions?.find((c) => c.type === "Ready");
    assert.deepEqual([flipped?.status, flipped?.lastTransitionTime], ["True", "T2"]);
  });

  test("a readiness gate holds Ready back", () => {
    const gated = pod();
    gated.spec.readinessGates = [{ conditionType: "example.com/gate" }];
    const status = desiredStatus(gated, view(true), "T1");
    assert.equal(status.conditions?.find((c) => c.type === "ContainersReady")?.status, "True");
    assert.equal(status.conditions?.find((c) => c.type === "Ready")?.reason, "ReadinessGatesNotReady");
  });

  test("statusPatch: nothing when only key order differs, the changed fields otherwise", () => {
    const stored = pod();
    const desired = desiredStatus(stored, view(false), "T1");
    const reverse = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reverse)
        : v && typeof v === "object"
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reverse(x)]),
            )
          : v;
    const reordered = reverse(desired) as typeof desired;
    stored.status = { ...reordered, qosClass: "BestEffort" };
    assert.equal(statusPatch(stored.status, desired), undefined);
    const patch = statusPatch(stored.status, desiredStatus(stored, view(true), "T2"));
    assert.deepEqual(Object.keys(patch ?? {}).sort(), ["conditions", "containerStatuses"]);
  });
});

describe("mount plan", () => {
  /** A host with /run, /etc (with hosts), /var/run → /run and /tmp. */
  function host(extra: Record<string, HostKind> = {}): HostView {
    const tree: Record<string, HostKind> = {
      "/": "dir",
      "/run": "dir",
      "/run/lock": "dir",
      "/run/utmp": "file",
      "/run/shm": "symlink",
      "/etc": "dir",
      "/etc/hosts": "file",
      "/var": "dir",
      "/var/run": "symlink",
      "/tmp": "dir",
      "/tmp/pod": "dir",
      ...extra,
    };
    return {
      kind: (p) => tree[p] ?? "missing",
      readlink: (p) => ({ "/var/run": "../run", "/run/shm": "/dev/shm" })[p] ?? "",
      list: (dir) =>
        Object.keys(tree)
          .filter(
            (p) =>
              p !== dir &&
              p.startsWith(dir === "/" ? "/" : `${dir}/`) &&
              !p.slice(dir.length + 1).includes("/"),
          )
          .map((p) => p.slice(dir === "/" ? 1 : dir.length + 1)),
      owner: () => ({ mode: 0o40755, uid: 0, gid: 0 }),
    };
  }
  const base = { scratch: "/tmp/pod/run/main", workingDir: "/", startedMarker: "/tmp/pod/run/main/started" };

  test("a mountPath that exists is mounted over, nothing else", () => {
    const script = mountScript(
      { ...base, mounts: [{ source: "/tmp/pod/v", target: "/etc", readOnly: true, file: false }] },
      host(),
    );
    assert.match(script, /mount --bind '\/tmp\/pod\/v' '\/etc'\nmount -o remount,bind,ro '\/etc'/);
    assert.doesNotMatch(script, /tmpfs|mkdir '|chroot/);
  });

  test("missing folders under /var/run are made in a tmpfs copy of /run, once for two mounts", () => {
    const script = mountScript(
      {
        ...base,
        mounts: [
          { source: "/tmp/pod/a", target: "/var/run/ferry/credential-key", readOnly: true, file: false },
          { source: "/tmp/pod/b", target: "/var/run/ferry/tls", readOnly: true, file: false },
        ],
      },
      host(),
    );
    assert.equal(script.match(/mount -t tmpfs/g)?.length, 1, "one copy of /run");
    assert.match(
      script,
      /mount -t tmpfs -o mode=755,uid=0,gid=0 ferry-volumes '\/tmp\/pod\/run\/main\/cover-0'/,
    );
    assert.match(script, /mkdir '\/tmp\/pod\/run\/main\/cover-0\/lock' && mount --rbind '\/run\/lock'/);
    assert.match(script, /touch '\/tmp\/pod\/run\/main\/cover-0\/utmp' && mount --bind '\/run\/utmp'/);
    assert.match(script, /ln -s '\/dev\/shm' '\/tmp\/pod\/run\/main\/cover-0\/shm'/);
    assert.match(
      script,
      /mount --move '\/tmp\/pod\/run\/main\/cover-0' '\/run'\nmkdir '\/run\/ferry'\nmkdir '\/run\/ferry\/credential-key'/,
    );
    assert.match(script, /mkdir '\/run\/ferry\/tls'\nmount --bind '\/tmp\/pod\/b' '\/run\/ferry\/tls'/);
    assert.doesNotMatch(script, /chroot/);
  });

  test("a new top-level folder copies / and chroots into the copy", () => {
    const script = mountScript(
      { ...base, mounts: [{ source: "/tmp/pod/d", target: "/data/cache", readOnly: false, file: false }] },
      host(),
    );
    assert.match(script, /ferry-volumes '\/tmp\/pod\/run\/main\/root'/);
    assert.match(
      script,
      /mkdir '\/tmp\/pod\/run\/main\/root\/data'\nmkdir '\/tmp\/pod\/run\/main\/root\/data\/cache'/,
    );
    assert.doesNotMatch(script, /remount/);
    assert.match(script, /exec chroot '\/tmp\/pod\/run\/main\/root' \/bin\/sh -c/);
  });

  test("a file (subPath) is mounted on a file", () => {
    const script = mountScript(
      {
        ...base,
        mounts: [{ source: "/tmp/pod/v/app.yaml", target: "/etc/app.yaml", readOnly: true, file: true }],
      },
      host(),
    );
    assert.match(script, /touch '\/etc\/app.yaml'/, "made in the copy of /etc");
    assert.match(script, /mount --move '\/tmp\/pod\/run\/main\/cover-0' '\/etc'/);
    assert.throws(
      () =>
        mountScript(
          { ...base, mounts: [{ source: "/tmp/pod/v", target: "/etc/hosts", readOnly: true, file: false }] },
          host(),
        ),
      /cannot be mounted on a file/,
    );
  });

  test("the command line comes last: missing entry point, working dir, marker, exec", () => {
    const script = mountScript({ ...base, mounts: [], hostname: "pod-a", workingDir: "/work" }, host());
    assert.match(script, /hostname 'pod-a'\ncd '\/work'\ncommand -v "\$1"/);
    assert.match(script, /: > '\/tmp\/pod\/run\/main\/started'\nunset PWD OLDPWD\nexec "\$@"$/);
  });
});

test("the atomic writer swaps ..data in one rename and skips an unchanged payload", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-atomic-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const payload = (entries: Record<string, string>, mode = 0o400): Payload =>
    new Map(Object.entries(entries).map(([k, v]) => [k, { data: Buffer.from(v), mode }]));
  assert.equal(await writeAtomically(dir, payload({ "private.key": "one", "sub/x": "x" })), true);
  const first = await readlink(join(dir, "..data"));
  assert.equal(await readFile(join(dir, "private.key"), "utf8"), "one");
  assert.equal((await lstat(join(dir, "private.key"))).isSymbolicLink(), true);
  assert.equal(await readlink(join(dir, "private.key")), "..data/private.key");
  assert.equal(
    await writeAtomically(dir, payload({ "private.key": "one", "sub/x": "x" })),
    false,
    "unchanged",
  );
  assert.equal(await writeAtomically(dir, payload({ "private.key": "two" })), true);
  assert.notEqual(await readlink(join(dir, "..data")), first);
  assert.equal(await readFile(join(dir, "private.key"), "utf8"), "two");
  await assert.rejects(lstat(join(dir, "sub")), "a key that went away is removed");
  await assert.rejects(lstat(join(dir, first)), "the old data folder is removed");
  assert.equal(
    await writeAtomically(dir, payload({ "private.key": "two" }, 0o644)),
    true,
    "a mode change is a change",
  );
});
