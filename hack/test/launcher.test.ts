/**
 * Reading a launcher (hack/src/launcher.ts): the defaults and node options of agent/bin/ferry-agent
 * and operator/bin/ferry-operator, as the local kubelet, tests and benchmarks take them. Running
 * each launcher for real is agent/test/launcher.test.ts and operator/test/launcher.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  AGENT_LAUNCHER,
  agentLaunch,
  launcherEnv,
  launcherSettings,
  OPERATOR_LAUNCHER,
  operatorLaunch,
} from "../src/launcher.ts";

const script = (...body: string[]) => ["#!/bin/sh", 'here=$(dirname "$0")', ...body].join("\n");
/** `export NAME="${FROM:-value}"`, as a launcher defaults a variable. */
const defaulted = (name: string, value: string, from = name) => `export ${name}="\${${from}:-${value}}"`;

describe("launcherSettings", () => {
  const cases: { name: string; text: string; env?: Record<string, string>; nodeFlags?: string[] }[] = [
    {
      name: "defaults and node options",
      text: script(
        defaulted("MALLOC_ARENA_MAX", "2"),
        defaulted("UV_THREADPOOL_SIZE", "8"),
        'exec node --max-semi-space-size=4 --stack-size=2000 "$here/../src/main.ts" "$@"',
      ),
      env: { MALLOC_ARENA_MAX: "2", UV_THREADPOOL_SIZE: "8" },
      nodeFlags: ["--max-semi-space-size=4", "--stack-size=2000"],
    },
    {
      name: "neither",
      text: script('exec node "$here/../src/main.ts" "$@"'),
      env: {},
      nodeFlags: [],
    },
    {
      // Only defaults of the variable itself are read; each launcher's test checks it sets nothing else.
      name: "a forced variable or one defaulting another name is not a default",
      text: script('export A="1"', defaulted("B", "2", "C"), 'exec node "$here/../src/main.ts" "$@"'),
      env: {},
      nodeFlags: [],
    },
    { name: "no exec line", text: script('node "$here/../src/main.ts"') },
    { name: "another script", text: script('exec node "$here/../src/cli.ts" "$@"') },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (!c.env) {
        assert.throws(() => launcherSettings("/x/bin/ferry-x", c.text), /\/x\/bin\/ferry-x: no "exec node/);
        return;
      }
      assert.deepEqual(launcherSettings("/x/bin/ferry-x", c.text), { env: c.env, nodeFlags: c.nodeFlags });
    });
  }
});

test("agentLaunch and operatorLaunch read their own launcher", () => {
  assert.deepEqual(agentLaunch(), launcherSettings(AGENT_LAUNCHER));
  assert.deepEqual(operatorLaunch(), launcherSettings(OPERATOR_LAUNCHER));
  assert.match(readFileSync(AGENT_LAUNCHER, "utf8"), /^#!\/bin\/sh\n# The ferry-agent program/);
  assert.match(readFileSync(OPERATOR_LAUNCHER, "utf8"), /^#!\/bin\/sh\n# The ferry-operator program/);
  // The text, when given, is what is read (as images.ts reads another checkout's launcher).
  const text = script('exec node --x "$here/../src/main.ts" "$@"');
  assert.deepEqual(operatorLaunch(text).nodeFlags, ["--x"]);
  assert.deepEqual(agentLaunch(text).nodeFlags, ["--x"]);
});

test("launcherEnv keeps what the environment sets to a non-empty value, as the launcher does", () => {
  const settings = { env: { A: "1", B: "2", C: "3" }, nodeFlags: [] };
  assert.deepEqual(launcherEnv(settings, { A: "9", B: "", D: "4" }), { A: "9", B: "2", C: "3" });
});
