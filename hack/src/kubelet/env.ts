/**
 * A container's environment, built as kubelet builds it: the runtime's own variables, then
 * `envFrom`, then `env` in order, each value `$(VAR)`-expanded against what came before. Of the
 * host's environment only PATH and HOME get in; the image map adds its own.
 */
import { fieldValue } from "./fields.ts";
import { ConfigError, configMapData, type ObjectLookup, secretData } from "./lookup.ts";
import type { Container, Pod } from "./types.ts";

/**
 * `$(VAR)` becomes VAR's value when VAR is defined, and stays as written otherwise; `$$` is a
 * literal `$` (so `$$(VAR)` is the text `$(VAR)`). The rules of k8s.io/kubernetes's expansion
 * package, which also applies to command and args.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== "$" || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = name ? lookup(name) : undefined;
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

export interface EnvContext {
  pod: Pod;
  lookup: ObjectLookup;
  /** PATH, HOME and the image's variables: the base everything else is laid over. */
  base: Record<string, string>;
  /** Variables the runtime sets: HOSTNAME, KUBERNETES_SERVICE_*, FERRY_IMAGE_TAG, FERRY_PORT_*. */
  runtime: Record<string, string>;
}

function keyOf(data: Record<string, Buffer>, key: string): string | undefined {
  return data[key]?.toString("utf8");
}

export async function containerEnv(container: Container, ctx: EnvContext): Promise<Record<string, string>> {
  const { lookup } = ctx;
  // What $(VAR) may refer to: kubelet's own list so far, not the image's environment.
  const defined: Record<string, string> = { ...ctx.runtime };
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    let data: Record<string, Buffer> | undefined;
    if (from.secretRef) {
      const secret = await lookup.secret(from.secretRef.name);
      if (!secret && !from.secretRef.optional)
        throw new ConfigError(`secret "${from.secretRef.name}" not found`);
      data = secret && secretData(secret);
    } else if (from.configMapRef) {
      const cm = await lookup.configMap(from.configMapRef.name);
      if (!cm && !from.configMapRef.optional)
        throw new ConfigError(`configmap "${from.configMapRef.name}" not found`);
      data = cm && configMapData(cm);
    }
    for (const [key, value] of Object.entries(data ?? {})) defined[prefix + key] = value.toString("utf8");
  }
  for (const variable of container.env ?? []) {
    const source = variable.valueFrom;
    let value: string | undefined;
    if (source?.fieldRef) {
      value = fieldValue(ctx.pod, source.fieldRef.fieldPath);
    } else if (source?.secretKeyRef) {
      const { name, key, optional } = source.secretKeyRef;
      const secret = await lookup.secret(name);
      value = secret && keyOf(secretData(secret), key);
      if (value === undefined && !optional) {
        throw new ConfigError(
          secret ? `couldn't find key ${key} in Secret ${name}` : `secret "${name}" not found`,
        );
      }
    } else if (source?.configMapKeyRef) {
      const { name, key, optional } = source.configMapKeyRef;
      const cm = await lookup.configMap(name);
      value = cm && keyOf(configMapData(cm), key);
      if (value === undefined && !optional) {
        throw new ConfigError(
          cm ? `couldn't find key ${key} in ConfigMap ${name}` : `configmap "${name}" not found`,
        );
      }
    } else if (source?.resourceFieldRef) {
      throw new ConfigError(`env ${variable.name}: resourceFieldRef is not supported by the process runtime`);
    } else {
      value = expand(variable.value ?? "", (n) => defined[n]);
    }
    // An optional reference that resolves to nothing leaves the variable out, as kubelet does.
    if (value !== undefined) defined[variable.name] = value;
  }
  return { ...ctx.base, ...defined };
}
