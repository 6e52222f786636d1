/**
 * Runs the ferry CLI as users do: a child process (`node agent/src/cli/main.ts ...`) against the
 * test cluster, with its exit code, stdout and stderr.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Kube } from "@ferry/common/kube";
import { API_VERSION, type FerryObject } from "@ferry/crds";

export const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  kubeconfig?: string;
  namespace?: string;
  stdin?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Sees stdout as it arrives, for tests of a process that keeps running (`logs -f`). */
  onStdout?: (soFar: string) => void;
}

export function ferry(args: string[], options: RunOptions = {}): Promise<Run> {
  const argv = [...args];
  if (options.kubeconfig) argv.push("--kubeconfig", options.kubeconfig);
  if (options.namespace) argv.push("-n", options.namespace);
  return run(process.execPath, [MAIN, ...argv], options);
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      options.onStdout?.(stdout);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}

/** Exit code `code`, nothing on stdout, and exactly one line on stderr that matches and is no stack trace. */
export function assertFails(result: Run, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, "", "nothing on stdout");
  const lines = result.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
  assert.match(lines[0]!, /^ferry( [a-z]+)?: /);
  assert.doesNotMatch(result.stderr, /\n\s+at |Error:|TypeError/);
  assert.match(lines[0]!, pattern);
}

export function assertOk(result: Run): void {
  assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
}

/** Sets metadata.namespace: the fixture builders leave it to the test. */
export const inNamespace =
  (namespace: string) =>
  (object: FerryObject): void => {
    object.metadata.namespace = namespace;
  };

/** Writes the status an operator or agent would write; no controller runs in these tests. */
export async function setStatus(
  kube: Kube,
  object: FerryObject,
  status: NonNullable<FerryObject["status"]>,
): Promise<void> {
  await kube.mergePatch(
    {
      apiVersion: API_VERSION,
      kind: object.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
    },
    { status },
    "status",
  );
}

/** An RFC 3339 time `seconds` before `now`, whole seconds as the API server stores them. */
export function ago(seconds: number, now = Date.now()): string {
  return new Date(Math.floor(now / 1000) * 1000 - seconds * 1000).toISOString().replace(".000Z", "Z");
}
