import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { testKubeconfig } from "./namespace.ts";

const run = promisify(execFile);

/** Runs the kubectl built by hack/ against the test cluster; resolves to its standard output. */
export async function kubectl(args: string[], kubeconfig = testKubeconfig()): Promise<string> {
  const bin = process.env.FERRY_BIN ? join(process.env.FERRY_BIN, "kubectl") : "kubectl";
  const { stdout } = await run(bin, ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 16 << 20 });
  return stdout;
}
