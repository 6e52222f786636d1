import type { CopyJob, LogicalGateway } from "@ferry/crds";

/** Fixture mods (crds/test/fixtures builders) for objects in a test's namespace. */
export const gatewayIn =
  (namespace: string, spec: LogicalGateway["spec"]) =>
  (g: LogicalGateway): void => {
    g.metadata.namespace = namespace;
    g.spec = spec;
  };

export const jobIn =
  (namespace: string, gateway: string) =>
  (j: CopyJob): void => {
    j.metadata.namespace = namespace;
    j.spec.gatewayRef.name = gateway;
  };
