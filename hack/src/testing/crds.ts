import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Kube, KubeObject } from "@ferry/common/kube";
import { crdManifests } from "@ferry/crds";
import { parseAllDocuments } from "yaml";
import { eventually } from "./wait.ts";

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * Server-side applies CRDs and waits until each is Established. Idempotent, so every test file
 * that needs an API can call it; concurrent callers apply the same content.
 */
async function applyCrds(kube: Kube, what: string, crds: Crd[]): Promise<string[]> {
  for (const crd of crds) await kube.apply(crd, "ferry-tests");
  await eventually(`${what} CRDs Established`, async () => {
    const states = await Promise.all(
      crds.map((crd) =>
        kube.get<Crd>({
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          name: crd.metadata.name,
        }),
      ),
    );
    return states.every((s) =>
      s?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"),
    );
  });
  return crds.map((c) => c.metadata.name);
}

/** Ferry's CRDs, as the chart and the operator install them. */
export function installCrds(kube: Kube): Promise<string[]> {
  return applyCrds(kube, "Ferry", crdManifests() as Crd[]);
}

/**
 * Installs cert-manager's real CRDs (fetched by hack/build-control-plane.sh from the pinned
 * module). The cert-manager controller does not run here; a test that needs certificates issued
 * plays the issuer and says so.
 */
export async function installCertManagerCrds(kube: Kube): Promise<void> {
  const file = join(process.env.FERRY_BIN ?? "", "cert-manager-crds.yaml");
  const crds = parseAllDocuments(await readFile(file, "utf8"))
    .map((d) => d.toJS() as Crd | null)
    .filter((c): c is Crd => c !== null);
  await applyCrds(kube, "cert-manager", crds);
}
