/**
 * Compacts the test cluster's etcd up to its current revision, through etcd's own JSON gateway.
 * Afterwards every watch that resumes from an older resourceVersion gets 410 Gone, which is how
 * informers are made to prove they relist instead of stalling.
 */
export async function compactEtcd(etcdUrl = process.env.FERRY_ETCD_URL): Promise<number> {
  if (!etcdUrl) throw new Error("FERRY_ETCD_URL is not set: the test cluster was not started by hack/");
  const post = async (path: string, body: object) => {
    const res = await fetch(`${etcdUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  const range = await post("/v3/kv/range", { key: Buffer.from("\0").toString("base64") });
  const revision = Number(range.header?.revision);
  await post("/v3/kv/compaction", { revision, physical: true });
  return revision;
}
