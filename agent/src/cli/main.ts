/**
 * Entry point of `ferry` and `kubectl ferry` (agent/bin/ferry, agent/bin/kubectl-ferry run
 * `node agent/src/cli/main.ts`). Wires the process's streams and clock to the CLI. The exit code is
 * set, not forced, so that everything written reaches a pipe before Node exits.
 */
import { runCli } from "./cli.ts";
import type { Io } from "./command.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

// `ferry status | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

const io: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  readStdin,
  stdinIsTTY: process.stdin.isTTY === true,
  now: () => new Date(),
};

process.exitCode = await runCli(process.argv.slice(2), io);
