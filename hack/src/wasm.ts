/**
 * Compiles the agent's WebAssembly sources (.wat, text the reviewer reads) into the .wasm files the
 * agent loads, with wabt. The .wasm is committed so that the agent needs no compiler at run time;
 * `--check` is how `npm run check` proves it is still the compiled text.
 *
 *   node hack/src/wasm.ts           write them
 *   node hack/src/wasm.ts --check   write nothing; exit 1 naming each file that is out of date
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import wabt from "wabt";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Each source, relative to the repository; its output is the same path ending in .wasm. */
export const WASM_SOURCES = [
  "agent/src/dataplane/formats/csv-records.wat",
  "agent/src/dataplane/connectors/postgres-text.wat",
  "agent/src/dataplane/connectors/postgres-copy-out.wat",
  "agent/src/dataplane/formats/parquet-fields.wat",
  "agent/src/dataplane/formats/snappy.wat",
];

export async function compileWat(path: string): Promise<Uint8Array> {
  const module = (await wabt()).parseWat(path, readFileSync(path, "utf8"), { simd: true });
  try {
    module.validate();
    return module.toBinary({ canonicalize_lebs: true }).buffer;
  } finally {
    module.destroy();
  }
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const source of WASM_SOURCES) {
    const wat = join(root, source);
    const out = wat.replace(/\.wat$/, ".wasm");
    const bytes = await compileWat(wat);
    if (readOrUndefined(out)?.equals(bytes)) continue;
    if (check) {
      console.error(`stale: ${relative(root, out)} (run npm run generate)`);
      stale++;
    } else {
      writeFileSync(out, bytes);
      console.log(`wrote ${relative(root, out)}`);
    }
  }
  if (stale > 0) process.exit(1);
}
