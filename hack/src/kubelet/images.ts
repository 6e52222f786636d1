/**
 * What an image means on a process node: there is no registry and no root filesystem, so an image
 * repository names a local command line. Pure (but for repositoryImages, which reads the agent's
 * and the operator's launchers), so the rules below are table-tested.
 *
 * The rule for a container's command line (the Docker ENTRYPOINT/CMD rule, with one addition):
 *
 * - no `command`: the image's `command` (its entry point), then the container's `args`, or the
 *   image's default `args` when the container gives none;
 * - a `command`: its first word is looked up in the image map as well, so a pod that says
 *   `command: ["ferry-agent"]` runs whatever the map says `ferry-agent` is locally; a word that is
 *   not in the map runs as a host executable (`sh`, `/bin/true`), found on PATH. Then the rest of
 *   `command`, then `args` (the image's default args are dropped, as Docker does).
 *
 * The image tag is passed as `FERRY_IMAGE_TAG`; the tag named `brokenTag` runs a process that
 * fails at once, which is how a test ships a bad release.
 */
import { join } from "node:path";
import { launcherSettings } from "../launcher.ts";

export interface ImageSpec {
  /** The local command line the image's entry point stands for (e.g. ["node", "agent/src/main.ts"]). */
  command: string[];
  /** Default arguments (the image's CMD): used when the container gives neither command nor args. */
  args?: string[];
  /** The image's environment (ENV); the container's own variables override it. */
  env?: Record<string, string>;
  /** Working directory when the container names none; "/" by default, as in most images. */
  workingDir?: string;
}

/** Keyed by image repository (`ferry/agent`) or by command word (`ferry-agent`). */
export type ImageMap = Record<string, ImageSpec>;

export interface ImageRef {
  repository: string;
  tag: string;
}

/** `registry:5000/ferry/agent:1.2@sha256:...` → repository `registry:5000/ferry/agent`, tag `1.2`. */
export function parseImage(image: string): ImageRef {
  const withoutDigest = image.split("@")[0] ?? image;
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  if (colon > slash) {
    return { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  }
  return { repository: withoutDigest, tag: "latest" };
}

/** The map entry of a repository, also when the pod spells it with a registry in front. */
export function lookupImage(images: ImageMap, repository: string): ImageSpec | undefined {
  if (Object.hasOwn(images, repository)) return images[repository];
  const [first, ...rest] = repository.split("/");
  const isRegistry =
    first !== undefined && (first.includes(".") || first.includes(":") || first === "localhost");
  if (isRegistry && rest.length > 0) {
    const short = rest.join("/");
    if (Object.hasOwn(images, short)) return images[short];
    if (short.startsWith("library/") && Object.hasOwn(images, short.slice(8))) return images[short.slice(8)];
  }
  return undefined;
}

export interface LaunchContainer {
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
}

export type Launch =
  | {
      ok: true;
      argv: string[];
      /** The image's environment: the base the container's variables are laid over. */
      env: Record<string, string>;
      workingDir: string;
      tag: string;
    }
  | { ok: false; reason: "ErrImagePull"; message: string };

export interface ResolveOptions {
  brokenTag: string;
  /** The Node binary that runs the broken-release stand-in. */
  execPath: string;
}

export function resolveLaunch(container: LaunchContainer, images: ImageMap, options: ResolveOptions): Launch {
  const { repository, tag } = parseImage(container.image);
  const image = lookupImage(images, repository);
  if (!image) {
    return {
      ok: false,
      reason: "ErrImagePull",
      message: `image "${container.image}": repository "${repository}" is not in the process node's image map`,
    };
  }
  const workingDir = container.workingDir || image.workingDir || "/";
  if (tag === options.brokenTag) {
    const say = `${container.image}: a deliberately broken build (tag "${options.brokenTag}") exits at once`;
    return {
      ok: true,
      argv: [options.execPath, "-e", `console.error(${JSON.stringify(say)}); process.exit(1)`],
      env: { ...image.env },
      workingDir,
      tag,
    };
  }
  if (container.command && container.command.length > 0) {
    const [word, ...rest] = container.command as [string, ...string[]];
    const entry = lookupImage(images, word);
    return {
      ok: true,
      argv: [...(entry ? entry.command : [word]), ...rest, ...(container.args ?? [])],
      env: { ...image.env, ...entry?.env },
      workingDir: container.workingDir || entry?.workingDir || workingDir,
      tag,
    };
  }
  return {
    ok: true,
    argv: [...image.command, ...(container.args ?? image.args ?? [])],
    env: { ...image.env },
    workingDir,
    tag,
  };
}

/**
 * The images of this repository, built from the working tree: `ferry/agent` (also reachable as the
 * command `ferry-agent`, which the operator's pods name), `ferry/operator` (`ferry-operator`) and
 * `ferry/testbin`, the fixture the runtime's own tests run.
 */
export function repositoryImages(root: string, node = process.execPath): ImageMap {
  // As each image's entry point, its launcher (agent/bin/ferry-agent, operator/bin/ferry-operator):
  // the node options and defaults it gives the program.
  const launched = (program: "agent" | "operator"): ImageSpec => {
    const launch = launcherSettings(join(root, `${program}/bin/ferry-${program}`));
    return {
      command: [node, ...launch.nodeFlags, `${root}/${program}/src/main.ts`],
      env: launch.env,
      workingDir: root,
    };
  };
  const agent = launched("agent");
  const operator = launched("operator");
  return {
    "ferry/agent": agent,
    "ferry-agent": agent,
    "ferry/operator": operator,
    "ferry-operator": operator,
    "ferry/testbin": { command: [node, `${root}/hack/test/fixtures/testbin.ts`], workingDir: root },
  };
}
