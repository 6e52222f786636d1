/**
 * The node's TLS material as the pod mounts it (Secret `<node>-tls` at FERRY_TLS_DIR): `tls.crt`,
 * `tls.key` and `ca.crt`, the trust bundle (old and new CA while the operator rotates it).
 *
 * Read fresh on every use that matters: the kubelet swaps the files in place (an atomic `..data`
 * symlink flip) when the operator or cert-manager renews them, and the process must follow.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export const TLS_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export async function readTlsDir(dir: string): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all(
    [TLS_FILES.cert, TLS_FILES.key, TLS_FILES.ca].map((f) => readFile(join(dir, f), "utf8")),
  );
  return { cert: cert!, key: key!, ca: ca! };
}
