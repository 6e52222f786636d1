/**
 * `ferry register`: how to start an external node of a gateway. The key comes from the
 * registration Secret the operator keeps current (status.registrationSecretName), so what is
 * printed is always the key of the current rotation.
 */
import { randomBytes } from "node:crypto";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Secret } from "@ferry/common";
import {
  type Command,
  checkName,
  getRequired,
  helpRequested,
  parseCommand,
  required,
  type Session,
} from "./command.ts";
import { CliError, EXIT_OK, UsageError } from "./errors.ts";
import { json } from "./format.ts";

const HELP = `Print how to start an external node of a gateway.

Usage:
  ferry register --gateway <name> [--node <name>] [--output-key-file <file>] [-o json]

Reads the registration key from the Secret named by the gateway's status.registrationSecretName
and prints the ferry-agent command that joins a machine to the gateway:

  ferry-agent --key <key> --node <name>

The key is a credential: whoever holds it can run a node of this gateway (and read what the
gateway's nodes may read, such as the Secrets its DataStores reference). Do not paste it into
tickets or chat. Give it to one machine, prefer --output-key-file over a key on a command line
(visible to other users of the machine), and rotate it (change spec.registration.rotation of the
LogicalGateway) when it may have leaked: the old key then stops working at once.

Options:
  --gateway <name>           the LogicalGateway to join (required)
  --node <name>              the node's name, a DNS label (default: the machine's host name)
  --output-key-file <file>   write the key to <file> (mode 0600) and print the --key-file
                             variant instead, so the key never appears on a command line
  -o, --output json          the key, server and command as JSON, for scripts`;

/** Written beside the target and renamed over it, so the key is never in a file others can read. */
async function writeKeyFile(path: string, key: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(temporary, `${key}\n`, { mode: 0o600, flag: "wx" });
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    const code = (err as { code?: string }).code;
    throw new CliError(`cannot write the key file ${path}: ${code ?? (err as Error).message}`);
  }
}

export const register: Command = {
  name: "register",
  summary: "print how to start an external node with the gateway's registration key",
  help: HELP,
  async run(args: string[], session: Session): Promise<number> {
    const { values, positionals } = parseCommand(args, {
      gateway: { type: "string" },
      node: { type: "string" },
      "output-key-file": { type: "string" },
      output: { type: "string", short: "o" },
    });
    if (helpRequested(values, this, session.io)) return EXIT_OK;
    if (positionals.length > 0)
      throw new UsageError("register takes no arguments (use --gateway and --node)");
    const name = checkName("gateway", required(values.gateway, "--gateway"));
    if (values.node !== undefined) checkName("node", values.node, true);
    if (values.output !== undefined && values.output !== "json") {
      throw new UsageError(`unknown output format "${values.output}" (register prints text or json)`);
    }
    if (values["output-key-file"] === "") throw new UsageError("--output-key-file needs a path");
    const keyFile = values["output-key-file"] === undefined ? undefined : resolve(values["output-key-file"]);

    const { kube, namespace } = await session.connect(values);
    const gateway = await getRequired(kube, "LogicalGateway", namespace, name);
    const secretName = gateway.status?.registrationSecretName;
    if (!secretName) {
      throw new CliError(
        `LogicalGateway "${name}" has no registration key yet (status.registrationSecretName is empty): ` +
          "the operator has not reconciled it; check that the operator runs, then try again",
      );
    }
    const secret = await kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace, name: secretName });
    if (!secret) {
      throw new CliError(
        `the registration Secret "${secretName}" of gateway "${name}" does not exist (yet): the operator writes it; try again shortly`,
      );
    }
    const encoded = secret.data?.key;
    if (!encoded) throw new CliError(`the registration Secret "${secretName}" has no "key" entry yet`);
    const key = Buffer.from(encoded, "base64").toString("utf8").trim();
    const { decodeRegistrationKey } = await import("@ferry/common");
    const decoded = decodeRegistrationKey(key);
    if (decoded.gateway !== name || decoded.namespace !== namespace) {
      throw new CliError(
        `the registration Secret "${secretName}" holds a key for gateway "${decoded.namespace}/${decoded.gateway}", ` +
          `not "${namespace}/${name}"`,
      );
    }

    if (keyFile !== undefined) await writeKeyFile(keyFile, key);
    const nodeArgs = values.node === undefined ? "" : ` --node ${values.node}`;
    const command =
      keyFile === undefined
        ? `ferry-agent --key ${key}${nodeArgs}`
        : `ferry-agent --key-file ${keyFile}${nodeArgs}`;
    const io = session.io;
    if (values.output === "json") {
      io.out(
        json({
          gateway: name,
          namespace,
          server: decoded.server,
          ...(values.node === undefined ? {} : { node: values.node }),
          ...(keyFile === undefined ? { key } : { keyFile }),
          command,
        }),
      );
      return EXIT_OK;
    }
    const lines = [
      `To add an external node to gateway "${name}" (namespace "${namespace}"), run this on the machine`,
      `that will be the node (it needs outbound HTTPS to the API server ${decoded.server}):`,
      "",
      `  ${command}`,
      "",
    ];
    if (keyFile !== undefined) {
      lines.push(`The key is in ${keyFile} (mode 0600): copy it to the machine and keep it private.`);
    }
    if (values.node === undefined) {
      lines.push("The node is named after the machine's host name; add --node <name> to choose one.");
    }
    lines.push(
      "The key is a credential: whoever holds it can run a node of this gateway. If it leaks, rotate it",
      `by changing spec.registration.rotation of LogicalGateway "${name}".`,
    );
    io.out(`${lines.join("\n")}\n`);
    return EXIT_OK;
  },
};
