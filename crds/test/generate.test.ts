import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generatedFiles, repositoryRoot } from "../src/generator/outputs.ts";

test("every generated file matches what the schema generates now", () => {
  const files = generatedFiles();
  assert.ok(files.size >= 7, "four manifests, all.yaml, types and schemas");
  for (const [path, content] of files) {
    const committed = readFileSync(join(repositoryRoot, path), "utf8");
    assert.ok(committed === content, `${path} is stale: run \`npm run generate\``);
  }
});

test("generating twice gives the same bytes", () => {
  assert.deepEqual(generatedFiles(), generatedFiles());
});

test("generate.ts --check agrees and writes nothing", () => {
  const result = spawnSync(process.execPath, ["crds/src/generate.ts", "--check"], {
    cwd: repositoryRoot,
    encoding: "utf8",
  });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "");
});
