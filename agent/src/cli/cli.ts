/**
 * The `ferry` command line: finds the command, runs it, and turns every failure into one line on
 * stderr and an exit code (errors.ts). The common options may come before or after the command,
 * as with kubectl: `ferry -n prod status` and `ferry status -n prod` are the same.
 *
 * An error that is not a CliError is a bug or an environment failure nobody foresaw; with
 * FERRY_DEBUG set, its stack follows the one line, for a bug report.
 */
import { COMMON_HELP, type Command, type Io, openCluster, type Session } from "./command.ts";
import { describe } from "./describe.ts";
import { encrypt } from "./encrypt.ts";
import {
  CliError,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeOf,
  explain,
  explainMissingApi,
  isMissingApi,
  UsageError,
} from "./errors.ts";
import { logs } from "./logs.ts";
import { register } from "./register.ts";
import { status } from "./status.ts";

export const COMMANDS: Command[] = [status, describe, logs, encrypt, register];

const HELP = `ferry: the command line of Ferry, the Kubernetes-native data gateway.
Installed as kubectl-ferry on the PATH, it also runs as "kubectl ferry".

Usage:
  ferry <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n")}
  help       help for a command: ferry help <command> (or ferry <command> --help)

${COMMON_HELP}`;

/** Options that take a value, so that in `ferry -n prod status` "prod" is not taken for the command. */
const GLOBAL_VALUE_OPTIONS = new Set(["--kubeconfig", "-n", "--namespace"]);

function findCommand(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return -1;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (!arg.startsWith("-")) return i;
  }
  return -1;
}

function lookup(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  const at = findCommand(argv);
  if (at < 0) {
    if (argv.includes("-h") || argv.includes("--help")) {
      io.out(`${HELP}\n`);
      return EXIT_OK;
    }
    io.err(`${HELP}\n`);
    return EXIT_USAGE;
  }
  const name = argv[at]!;
  const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
  if (name === "help") {
    const topic = rest.find((a) => !a.startsWith("-"));
    if (topic === undefined) {
      io.out(`${HELP}\n`);
      return EXIT_OK;
    }
    const command = lookup(topic);
    if (!command) {
      io.err(
        `ferry: no help for unknown command "${topic}" (commands: ${COMMANDS.map((c) => c.name).join(", ")})\n`,
      );
      return EXIT_USAGE;
    }
    io.out(`${command.help}\n\n${COMMON_HELP}\n`);
    return EXIT_OK;
  }
  const command = lookup(name);
  if (!command) {
    io.err(
      `ferry: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(", ")}; see ferry --help)\n`,
    );
    return EXIT_USAGE;
  }
  const session: Session = {
    io,
    async connect(options) {
      session.cluster = await openCluster(options);
      return session.cluster;
    },
  };
  try {
    return await command.run(rest, session);
  } catch (err) {
    const hint = err instanceof UsageError ? ` (see ferry ${command.name} --help)` : "";
    const cluster = session.cluster;
    const message =
      cluster && isMissingApi(err)
        ? await explainMissingApi(cluster.kube, cluster.server)
        : explain(err, cluster?.server);
    io.err(`ferry ${command.name}: ${message}${hint}\n`);
    if (!(err instanceof CliError) && process.env.FERRY_DEBUG) io.err(`${(err as Error).stack}\n`);
    return exitCodeOf(err);
  }
}
