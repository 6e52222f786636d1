/**
 * The main job, run by `npm run demo`: a local control plane with Ferry's API installed and the
 * sample resources applied, left running to explore with kubectl. `npm run demo -- down` stops it.
 *
 * Safe to run again: the cluster is reused and every object is server-side applied.
 */
import { parseArgs } from "node:util";
import { connect, type KubeObject } from "@ferry/common/kube";
import { samples } from "@ferry/crds";
import { ensureNamedCluster, stopNamedCluster } from "./cluster/named.ts";
import { installCrds } from "./testing/crds.ts";
import { kubectl } from "./testing/kubectl.ts";

const CLUSTER = "demo";
const NAMESPACE = "ferry-demo";
const say = (message: string) => console.log(`[demo] ${message}`);

/** Secrets the sample DataStores name; demo-only values, never real credentials. */
function sampleSecrets(namespace: string): KubeObject[] {
  const secret = (name: string, data: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "ferry-demo" } },
    type: "Opaque",
    stringData: data,
  });
  return [
    secret("pg-source-credentials", { username: "ferry", password: "ferry-demo-password" }),
    // Azurite's published development account key: public by design.
    secret("blob-sink-credentials", {
      accountName: "devstoreaccount1",
      accountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    }),
  ];
}

async function up(): Promise<void> {
  say("starting the local control plane (the first run on a machine builds it from Go modules)");
  const { state, reused } = await ensureNamedCluster(CLUSTER, 2, 1, (m) => say(m));
  say(reused ? "reusing the running demo cluster" : `control plane up: ${state.server}`);
  const kube = connect(state.kubeconfig);
  const crds = await installCrds(kube);
  say(`API installed: ${crds.join(", ")}`);
  await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }, "ferry-demo");
  for (const object of sampleSecrets(NAMESPACE)) await kube.apply(object, "ferry-demo");
  for (const { file, object } of samples()) {
    await kube.apply({ ...object, metadata: { ...object.metadata, namespace: NAMESPACE } }, "ferry-demo");
    say(`applied ${object.kind}/${object.metadata.name} from crds/samples/${file}`);
  }
  console.log(await kubectl(["get", "ferry", "-n", NAMESPACE], state.kubeconfig));
  console.log(`Explore it:
  export KUBECONFIG=${state.kubeconfig}
  kubectl get ferry -n ${NAMESPACE}
  kubectl explain logicalgateway.spec
  kubectl describe copyjob orders-to-blob -n ${NAMESPACE}
Stop it: npm run demo -- down`);
}

const { positionals } = parseArgs({ allowPositionals: true });
if (positionals[0] === "down") {
  say((await stopNamedCluster(CLUSTER)) ? "demo cluster stopped" : "no demo cluster was running");
} else {
  await up();
}
