/**
 * operator/bin/ferry-operator, the launcher the chart's pods run: the environment it gives the
 * operator (MALLOC_ARENA_MAX), overridable, its node options, and the same as what operators
 * started by the local kubelet, tests and benchmarks get.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { repositoryImages } from "@ferry/hack/kubelet";
import { OPERATOR_LAUNCHER as LAUNCHER, operatorLaunch, runLauncher, standInNode } from "@ferry/hack/testing";

const run = promisify(execFile);
let bin: string;

async function which(tool: string): Promise<string> {
  for (const dir of ["/usr/bin", "/bin"]) {
    const path = join(dir, tool);
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  throw new Error(`${tool} is in neither /usr/bin nor /bin`);
}

before(async () => {
  bin = await mkdtemp(join(tmpdir(), "ferry-launcher-"));
  await standInNode(bin, "v24.0.0");
});
after(() => rm(bin, { recursive: true, force: true }));

const launched = (args: string[] = [], extra: Record<string, string> = {}, launcher = LAUNCHER) =>
  runLauncher(launcher, bin, args, extra);

test("the launcher caps glibc's malloc arenas at 2 unless the environment says otherwise", async () => {
  assert.equal(operatorLaunch().env.MALLOC_ARENA_MAX, "2");
  assert.equal((await launched()).env.MALLOC_ARENA_MAX, "2");
  assert.equal((await launched([], { MALLOC_ARENA_MAX: "4" })).env.MALLOC_ARENA_MAX, "4");
});

test("operators started by tests and benchmarks get every default the launcher sets", async () => {
  const defaults = operatorLaunch().env;
  const { env } = await launched();
  for (const [name, value] of Object.entries(defaults)) assert.equal(env[name], value, name);
  // Nothing the launcher adds is missed by the parser.
  const added = Object.keys(env).filter((n) => !["PATH", "PWD", "SHLVL", "_"].includes(n));
  assert.deepEqual(added.sort(), Object.keys(defaults).sort());
});

test("operators started by tests and benchmarks get the node options the launcher gives", async () => {
  const flags = operatorLaunch().nodeFlags;
  assert.ok(flags.includes("--max-semi-space-size=4"), String(flags));
  const { argv } = await launched(["--kubeconfig", "k"]);
  assert.equal(argv, `${flags.join(" ")} ${join(LAUNCHER, "..")}/../src/main.ts --kubeconfig k`);
});

test("the launcher runs operator/src/main.ts also through a symlink (npm's bin link)", async () => {
  const link = join(bin, "ferry-operator");
  await symlink(LAUNCHER, link);
  const { argv } = await launched([], {}, link);
  assert.ok(argv.split(" ").includes(`${join(LAUNCHER, "..")}/../src/main.ts`), argv);
});

test("the launcher refuses a node older than 24, and a missing one, saying what is needed", async () => {
  const old = await mkdtemp(join(tmpdir(), "ferry-launcher-old-"));
  try {
    await standInNode(old, "v22.11.0");
    // No node at all, but the tools the launcher uses before looking for it.
    const none = join(old, "none");
    await mkdir(none);
    for (const tool of ["readlink", "dirname"]) await symlink(await which(tool), join(none, tool));
    for (const path of [`${old}:/usr/bin:/bin`, none]) {
      const failed = await run(LAUNCHER, [], { env: { PATH: path } }).then(
        () => assert.fail(`started with PATH=${path}`),
        (err: { code: number; stderr: string; stdout: string }) => err,
      );
      assert.equal(failed.code, 1, path);
      assert.equal(failed.stdout, "", path);
      assert.match(failed.stderr, /^ferry-operator: .*Node 24 or newer is needed/, path);
    }
  } finally {
    await rm(old, { recursive: true, force: true });
  }
});

test("the local kubelet runs operator pods as the launcher would: its node options and defaults", () => {
  const root = join(LAUNCHER, "../../..");
  const { env, nodeFlags } = operatorLaunch();
  for (const word of ["ferry-operator", "ferry/operator"]) {
    const image = repositoryImages(root, "node")[word]!;
    assert.deepEqual(image.command, ["node", ...nodeFlags, join(root, "operator/src/main.ts")], word);
    assert.deepEqual(image.env, env, word);
  }
});
