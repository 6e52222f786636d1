/**
 * Loads one of the data plane's WebAssembly modules (a .wasm next to its .wat source, compiled by
 * `npm run generate`): synchronously, as they are a few KiB, on first use.
 */
import { readFileSync } from "node:fs";

/** The part of the WebAssembly global used here (@types/node does not declare it). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => { exports: object };
    };
  }
).WebAssembly;

export interface WasmMemory {
  grow(pages: number): number;
  buffer: ArrayBuffer;
}

export const WASM_PAGE = 65_536;

/** The module's exports; its memory is grown to at least `bytes`. */
export function instantiate<T extends { memory: WasmMemory }>(url: URL, bytes: number): T {
  const exports = new wasm.Instance(new wasm.Module(readFileSync(url))).exports as T;
  growTo(exports.memory, bytes);
  return exports;
}

function growTo(memory: WasmMemory, bytes: number): void {
  const pages = Math.ceil(bytes / WASM_PAGE) - memory.buffer.byteLength / WASM_PAGE;
  if (pages > 0) memory.grow(pages);
}
