/**
 * One agent process, start to stop, as a flat list of steps: identity, instance id, GatewayNode,
 * node Lease claim, heartbeat, credential key, ops server, worker, dispatcher campaign, status
 * reports; then on SIGTERM the reverse: drain, hand back, release the leases. Resolves to the
 * process's exit code.
 */
import os from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { isAlreadyExists, type Lease } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { applyStatus, EventRecorder, Metrics, runLeaderElection } from "@ferry/common/runtime";
import type { DataStore, LogicalGateway } from "@ferry/crds";
import type { AgentConfig } from "./config.ts";
import { CredentialResolver, loadPrivateKey } from "./credentials.ts";
import { loadConnectors } from "./dataplane/index.ts";
import { runDataStoreTester } from "./datastore-tester.ts";
import { runDispatcher } from "./dispatcher.ts";
import { Heartbeat } from "./heartbeat.ts";
import { EXIT, REVOKED_MESSAGE, resolveIdentity } from "./identity.ts";
import {
  ANNOTATION_DRAINING,
  API_VERSION,
  dispatcherLeaseName,
  FIELD_MANAGER,
  LABEL_COMPONENT,
  LABEL_GATEWAY,
  LEASE_API,
  leaseLabels,
  nodeRef,
} from "./names.ts";
import {
  defaultPeerHost,
  peerEndpointAnnotation,
  peerEndpointsFromLeases,
  peerEndpointUrl,
  probePeers,
  startPeerServer,
} from "./net/index.ts";
import { agentNodeStatus } from "./node-status.ts";
import { claimNodeLease, ensureNode, loadInstanceId } from "./registration.ts";
import { ResourceSampler } from "./resources.ts";
import { Worker } from "./worker.ts";

export async function runAgent(config: AgentConfig, rootLog: Logger, stop: AbortSignal): Promise<number> {
  // 1. Who we are; a bad key ends here with one line.
  const id = await resolveIdentity(config);
  const { kube, namespace, gateway } = id;
  const node = config.node;
  const log = rootLog.child({ namespace, gateway, node });
  const instance = await loadInstanceId(config.stateDir, namespace, node);
  log.info({ identity: id.source, instance }, "starting");

  // 1b. The connectors this namespace's DataStores use, before the node claims its Lease and takes
  // jobs: loading one at a node's first job stalled its heartbeat and watches meanwhile, and on a
  // busy machine that made the new node's heartbeat look stale to its own fence.
  const loadStarted = performance.now();
  const storeTypes = await kube
    .list<DataStore>(API_VERSION, "DataStore", namespace)
    .then((stores) => stores.map((d) => d.spec.type))
    .catch((err: unknown) => {
      log.warn({ err: { message: (err as Error).message } }, "could not list DataStores to load connectors");
      return [];
    });
  const loaded = await loadConnectors(storeTypes);
  log.info({ connectors: loaded, ms: Math.round(performance.now() - loadStarted) }, "connectors loaded");

  // 2. The GatewayNode (an external one is created) and its Lease: a live duplicate is refused.
  await ensureNode(kube, namespace, gateway, node, id.source !== "in-cluster");
  const { lease: claimed, claimedAt } = await claimNodeLease(
    kube,
    namespace,
    gateway,
    node,
    instance,
    config.leaseMs,
    (holder) =>
      log.warn(
        { holder },
        "the node's lease is held by another instance; waiting one lease period to see whether it is alive",
      ),
  );
  log.info("node lease claimed");

  const metrics = new Metrics();
  const events = new EventRecorder(kube, { component: "ferry-agent", host: node }, log);
  let exitCode = 0;
  const shutdown = new AbortController();
  const fatal = (code: number) => {
    exitCode = code;
    shutdown.abort();
  };

  // 3. Heartbeat; a stale lease stops the copies, a stolen one ends the process. The Lease also
  // says where this node's peer endpoint listens (set once the endpoint is up, step 6).
  let worker: Worker | undefined;
  let peerEndpoint: string | undefined;
  let draining = false;
  const heartbeat = new Heartbeat(
    {
      kube,
      namespace,
      gateway,
      node,
      instance,
      leaseMs: config.leaseMs,
      renewMs: config.renewMs,
      log,
      onStale: () => worker?.stopAll("lease"),
      onTaken: () => {
        worker?.stopAll("lost");
        fatal(EXIT.lost);
      },
      onRevoked: () => {
        worker?.stopAll("lost");
        log.error(REVOKED_MESSAGE);
        process.stderr.write(`ferry-agent: ${REVOKED_MESSAGE}\n`);
        fatal(EXIT.key);
      },
      annotations: () => ({
        ...(peerEndpoint ? peerEndpointAnnotation(peerEndpoint) : {}),
        ...(draining ? { [ANNOTATION_DRAINING]: "true" } : {}),
      }),
    },
    claimed,
    claimedAt,
  );
  heartbeat.start();

  // 4. The credential key (reloaded, so a key created after the agent started is picked up).
  let privateKey: string | undefined;
  const loadKey = async () => {
    privateKey = await loadPrivateKey({
      kube,
      namespace,
      gateway,
      ...(config.credentialKeyDir ? { dir: config.credentialKeyDir } : {}),
    }).catch((err: unknown) => {
      log.warn({ err: { message: (err as Error).message } }, "could not load the credential key");
      return privateKey;
    });
  };
  await loadKey();
  if (!privateKey)
    log.warn("the gateway's credential key is not available: encrypted credentials cannot be opened");
  const resolver = new CredentialResolver(kube, namespace, () => privateKey);

  // 5. Worker.
  let gw: LogicalGateway = id.gatewayObject;
  // What `kubectl get gatewaynodes` shows of a node, its role and its slots, is written at once
  // when either changes (the status loop, step 8, waits in between and sets wakeReport).
  let wakeReport: () => void = () => {};
  let statusChanged = false;
  const reportNow = () => {
    statusChanged = true;
    wakeReport();
  };
  worker = new Worker({
    kube,
    namespace,
    gateway,
    node,
    log,
    metrics,
    events,
    heartbeat,
    resolver,
    progressMs: config.progressMs,
    defaultLimit: () => gw.spec.concurrency?.perNode ?? config.concurrency ?? Math.max(2, os.cpus().length),
    onLimitChanged: reportNow,
  });
  const work = new AbortController();
  await worker.start(work.signal);

  // 6. The node's endpoint: /healthz, /readyz, /metrics, and /peer for the other nodes, over TLS
  // with the node certificate (mutual TLS on /peer) unless the gateway's TLS is Disabled.
  const ops =
    config.opsPort >= 0
      ? await startPeerServer({
          ...(config.tlsDir ? { tlsDir: config.tlsDir } : {}),
          port: config.opsPort,
          metrics,
          ready: () => heartbeat.fresh(),
          node,
          version: config.version,
          log,
        })
      : undefined;
  if (ops) {
    peerEndpoint = peerEndpointUrl(defaultPeerHost(), ops.port, ops.tls);
    log.info({ endpoint: peerEndpoint }, "node endpoint listening");
  }

  // 7. Dispatcher campaign: every node stands by; the holder of the Lease dispatches.
  let leading = false;
  const campaign = new AbortController();
  const dispatcherLeaseMs = config.dispatcherLeaseMs;
  const renewEveryMs = Math.min(2000, dispatcherLeaseMs / 4);
  await ensureDispatcherLease();
  const campaigning = (async () => {
    while (!campaign.signal.aborted) {
      await runLeaderElection({
        kube,
        namespace,
        name: dispatcherLeaseName(gateway),
        identity: node,
        leaseDurationMs: dispatcherLeaseMs,
        renewEveryMs,
        renewDeadlineMs: Math.floor((dispatcherLeaseMs * 2) / 3),
        log,
        signal: campaign.signal,
        metrics,
        onStartedLeading: async (signal) => {
          leading = true;
          reportNow();
          log.info("this node is the dispatcher");
          await Promise.all([
            runDispatcher(
              {
                kube,
                namespace,
                gateway,
                node,
                log: log.child({ role: "dispatcher" }),
                metrics,
                events,
                draining: () => draining,
              },
              signal,
            ),
            runDataStoreTester(
              {
                kube,
                namespace,
                gateway,
                node,
                resolver,
                everyMs: config.testMs,
                log: log.child({ role: "tester" }),
              },
              signal,
            ),
          ]);
        },
        onStoppedLeading: () => {
          leading = false;
          reportNow();
        },
      }).catch((err: unknown) => log.error({ err }, "dispatcher election failed"));
      if (!campaign.signal.aborted)
        await delay(renewEveryMs, undefined, { signal: campaign.signal }).catch(() => {});
    }
  })();

  // 8. Status reports at a low rate, and at once when the node's role or slots change (reportNow);
  // the key is re-read with them.
  const sampler = new ResourceSampler();
  const reporting = (async () => {
    while (!shutdown.signal.aborted) {
      statusChanged = false;
      try {
        await report();
      } catch (err) {
        log.warn({ err }, "could not write the node status");
      }
      // A change while that report was being made may not be in it: report again at once.
      if (!statusChanged)
        await new Promise<void>((resolve) => {
          wakeReport = resolve;
          delay(config.statusMs, undefined, { signal: shutdown.signal }).then(resolve, resolve);
        });
      if (!privateKey) await loadKey();
      gw =
        (await kube
          .get<LogicalGateway>({
            apiVersion: id.gatewayObject.apiVersion,
            kind: "LogicalGateway",
            namespace,
            name: gateway,
          })
          .catch(() => gw)) ?? gw;
    }
  })();
  async function report(): Promise<void> {
    const status = agentNodeStatus(
      {
        version: config.version,
        dispatcher: leading,
        resources: await sampler.sample(),
        running: worker!.running,
        limit: worker!.limit(),
        ...(id.source === "in-cluster" ? { podName: process.env.HOSTNAME ?? os.hostname() } : {}),
        hostName: os.hostname(),
        credentialKeyLoaded: Boolean(privateKey),
        ...(await peers()),
      },
      new Date(),
    );
    await applyStatus(kube, nodeRef(namespace, node), FIELD_MANAGER, status);
  }

  /** Probes the other live nodes' endpoints (mutual TLS), for the PeersReachable condition. */
  async function peers(): Promise<{ peersReachable?: { reachable: number; total: number } }> {
    if (!ops) return {};
    const leases = await kube.list<Lease>(LEASE_API, "Lease", namespace, {
      labelSelector: `${LABEL_GATEWAY}=${gateway},${LABEL_COMPONENT}=node-lease`,
    });
    const targets = peerEndpointsFromLeases(leases, { self: node, now: new Date() });
    const result = await probePeers({ peers: targets, ...(config.tlsDir ? { tlsDir: config.tlsDir } : {}) });
    if (result.unreachable.length > 0) log.warn({ unreachable: result.unreachable }, "peers unreachable");
    return { peersReachable: { reachable: result.reachable, total: result.total } };
  }

  async function ensureDispatcherLease(): Promise<void> {
    // Created with its labels before the election (which would create it with fewer), free.
    try {
      await kube.create<Lease>({
        apiVersion: LEASE_API,
        kind: "Lease",
        metadata: {
          name: dispatcherLeaseName(gateway),
          namespace,
          labels: leaseLabels(gateway, "dispatcher-lease"),
        },
        spec: { holderIdentity: "", leaseDurationSeconds: Math.ceil(dispatcherLeaseMs / 1000) },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  // Wait for SIGTERM (or a fatal loss of the node Lease). Either may have come already, during
  // start-up (a pod deleted while its agent waits out a previous holder's lease): an abort event
  // fires once, so a listener added afterwards would wait forever.
  stop.addEventListener("abort", () => shutdown.abort(), { once: true });
  if (stop.aborted) shutdown.abort();
  if (!shutdown.signal.aborted)
    await new Promise<void>((resolve) =>
      shutdown.signal.addEventListener("abort", () => resolve(), { once: true }),
    );

  // Stop: no new jobs; running ones finish within the grace period or are handed back; then the
  // dispatcher Lease is released (another node takes over at once) and the node Lease last.
  log.info({ drainMs: config.drainMs, running: worker.running }, "stopping");
  if (exitCode === 0) {
    // Said on the node Lease first, so the dispatcher gives this node nothing more and moves the
    // jobs waiting in its queue to other nodes while the running ones finish.
    draining = true;
    await heartbeat.renew().catch((err: unknown) => log.warn({ err }, "could not mark the node draining"));
    await worker.drain(config.drainMs);
  }
  campaign.abort();
  await campaigning;
  work.abort();
  await reporting;
  if (exitCode === 0) {
    await report().catch(() => {});
    await heartbeat.release().catch((err: unknown) => log.warn({ err }, "could not release the node lease"));
  } else heartbeat.stop();
  await ops?.close(1000);
  log.info({ exitCode }, "stopped");
  return exitCode;
}
