/**
 * The command line itself, as a child process: every command has --help (exit 0), mistakes in the
 * command line exit 2 with one line naming the mistake, and a cluster that cannot be reached exits
 * 1 with one line naming the server. None of these needs a running API server.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { assertFails, assertOk, ferry } from "./helpers.ts";

const COMMANDS = ["status", "describe", "logs", "encrypt", "register"];

test("every command has --help, and ferry help lists them", async () => {
  const results = await Promise.all([
    ...COMMANDS.map((c) => ferry([c, "--help"])),
    ferry(["help", "encrypt"]),
    ferry(["--help"]),
    ferry([]),
  ]);
  COMMANDS.forEach((command, i) => {
    const result = results[i]!;
    assertOk(result);
    assert.match(result.stdout, new RegExp(`Usage:\\n {2}ferry ${command} `), command);
    assert.match(result.stdout, /--kubeconfig <path>/, command);
    assert.match(result.stdout, /Exit codes: 0 done, 1 failed .*, 2 usage error\./, command);
  });
  const [helpEncrypt, top, none] = results.slice(COMMANDS.length);
  assertOk(helpEncrypt!);
  assert.match(helpEncrypt!.stdout, /^Seal DataStore credentials/);
  assert.match(results[COMMANDS.indexOf("register")]!.stdout, /The key is a credential: whoever holds it/);
  assertOk(top!);
  for (const command of COMMANDS) assert.match(top!.stdout, new RegExp(`\\n {2}${command} +\\S`));
  assert.equal(none!.code, 2, "no command is a usage error");
  assert.match(none!.stderr, /^ferry: the command line of Ferry/);
});

test("mistakes in the command line exit 2 with one line", async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ["frobnicate"],
      /^ferry: unknown command "frobnicate" \(commands: status, describe, logs, encrypt, register; see ferry --help\)$/,
    ],
    [["help", "frobnicate"], /^ferry: no help for unknown command "frobnicate"/],
    [["status", "--gatway", "demo"], /^ferry status: unknown option --gatway \(see ferry status --help\)$/],
    [["status", "--gateway"], /^ferry status: option --gateway needs a value/],
    [["status", "--help=yes"], /^ferry status: option --help takes no value/],
    [["status", "-o", "yaml"], /^ferry status: unknown output format "yaml" \(use wide or json\)/],
    [["status", "--jobs", "many"], /^ferry status: --jobs must be a whole number/],
    [["status", "extra"], /^ferry status: status takes no arguments/],
    [["status", "--gateway", "Bad_Name"], /^ferry status: gateway "Bad_Name" is not a valid name/],
    [["status", "-n", "Bad_NS"], /^ferry status: namespace "Bad_NS" is not a valid name/],
    [["register", "--gateway", "demo", "-o", "yaml"], /^ferry register: unknown output format "yaml"/],
    [["logs", "job", "x", "--interval", "0"], /^ferry logs: --interval must be a number of seconds/],
  ];
  const results = await Promise.all(cases.map(([args]) => ferry(args)));
  for (const [i, [args, message]] of cases.entries()) {
    await t.test(args.join(" "), () => assertFails(results[i]!, 2, message));
  }
});

test("a missing kubeconfig or an unreachable server exits 1 with one line", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "ferry-usage-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dead = join(dir, "kubeconfig");
  // JSON is YAML: a kubeconfig of a server that is not there (port 1 refuses at once).
  await writeFile(
    dead,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "dead", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } },
      ],
      users: [{ name: "u", user: { token: "not-a-real-token" } }],
      contexts: [{ name: "dead", context: { cluster: "dead", user: "u", namespace: "ctx-ns" } }],
      "current-context": "dead",
    }),
  );
  const [missing, unreachable, globalFirst] = await Promise.all([
    ferry(["status", "--kubeconfig", join(dir, "nope")]),
    ferry(["describe", "job", "x", "--kubeconfig", dead]),
    ferry(["-n", "other", "--kubeconfig", dead, "status"]),
  ]);
  assertFails(missing, 1, /^ferry status: cannot read kubeconfig \S+nope: no such file$/);
  assertFails(unreachable, 1, /^ferry describe: cannot reach the API server at https:\/\/127\.0\.0\.1:1: /);
  // Common options before the command are the command's: it got as far as connecting.
  assertFails(globalFirst, 1, /^ferry status: cannot reach the API server at https:\/\/127\.0\.0\.1:1/);
});
