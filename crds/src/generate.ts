/**
 * Writes every file generated from crds/src/schema: the CRD manifests, the TypeScript types and the
 * schemas the validators compile.
 *
 *   node crds/src/generate.ts           write them
 *   node crds/src/generate.ts --check   write nothing; exit 1 naming each file that is out of date
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { generatedFiles, manifestsDirectory, repositoryRoot } from "./generator/outputs.ts";

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

const check = process.argv.includes("--check");
const files = generatedFiles();
// A manifest of a kind that no longer exists is stale too.
const leftovers = readdirSync(join(repositoryRoot, manifestsDirectory))
  .map((name) => `${manifestsDirectory}/${name}`)
  .filter((path) => !files.has(path));
const stale = [...files].filter(([path, content]) => readOrUndefined(join(repositoryRoot, path)) !== content);

if (check) {
  for (const [path] of stale) console.error(`stale: ${path}`);
  for (const path of leftovers) console.error(`stale: ${path} (no longer generated)`);
  if (stale.length + leftovers.length > 0) {
    console.error("run `npm run generate` and commit the result");
    process.exit(1);
  }
} else {
  for (const [path, content] of stale) {
    mkdirSync(dirname(join(repositoryRoot, path)), { recursive: true });
    writeFileSync(join(repositoryRoot, path), content);
    console.log(`wrote ${path}`);
  }
  for (const path of leftovers) {
    rmSync(join(repositoryRoot, path));
    console.log(`removed ${path}`);
  }
}
