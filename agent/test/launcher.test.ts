/**
 * agent/bin/ferry-agent, the launcher pods and machines run: the environment it gives the agent
 * (MALLOC_ARENA_MAX), overridable, and the same as what agents started by tests and benchmarks get.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { repositoryImages } from "@ferry/hack/kubelet";
import { agentLaunch, runLauncher, standInNode } from "@ferry/hack/testing";
import { LAUNCHER } from "./support/agents.ts";

let bin: string;
before(async () => {
  bin = await mkdtemp(join(tmpdir(), "ferry-launcher-"));
  await standInNode(bin);
});
after(() => rm(bin, { recursive: true, force: true }));

const launchedEnv = async (extra: Record<string, string>) =>
  (await runLauncher(LAUNCHER, bin, [], extra)).env;

test("the launcher caps glibc's malloc arenas at 2 unless the environment says otherwise", async () => {
  assert.equal(agentLaunch().env.MALLOC_ARENA_MAX, "2");
  assert.equal((await launchedEnv({})).MALLOC_ARENA_MAX, "2");
  assert.equal((await launchedEnv({ MALLOC_ARENA_MAX: "4" })).MALLOC_ARENA_MAX, "4");
});

test("agents started by tests and benchmarks get every default the launcher sets", async () => {
  const defaults = agentLaunch().env;
  const launched = await launchedEnv({});
  for (const [name, value] of Object.entries(defaults)) assert.equal(launched[name], value, name);
  // Nothing the launcher adds is missed by the parser.
  const added = Object.keys(launched).filter((n) => !["PATH", "PWD", "SHLVL", "_"].includes(n));
  assert.deepEqual(added.sort(), Object.keys(defaults).sort());
});

test("agents started by tests and benchmarks get the node options the launcher gives", async () => {
  const flags = agentLaunch().nodeFlags;
  assert.ok(flags.includes("--max-semi-space-size=8"), String(flags));
  assert.ok(flags.includes("--initial-old-space-size=64"), String(flags));
  const { argv } = await runLauncher(LAUNCHER, bin, ["--node", "n1"]);
  assert.equal(argv, `${flags.join(" ")} ${join(LAUNCHER, "..")}/../src/main.ts --node n1`);
});

test("the local kubelet runs agent pods as the launcher would: its node options and defaults", () => {
  const root = join(LAUNCHER, "../../..");
  const { env, nodeFlags } = agentLaunch();
  for (const word of ["ferry-agent", "ferry/agent"]) {
    const image = repositoryImages(root, "node")[word]!;
    assert.deepEqual(image.command, ["node", ...nodeFlags, join(root, "agent/src/main.ts")], word);
    assert.deepEqual(image.env, env, word);
  }
});
