#!/usr/bin/env node
/**
 * `ferry-agent`: the node program. Everything that can go wrong before the agent runs (usage, a
 * malformed, rotated or foreign key, a duplicate node name) ends with one line on stderr and a
 * non-zero exit code, never a stack trace; see identity.ts for the codes.
 */
import os from "node:os";
import { createLogger } from "@ferry/common/log";
import { runAgent } from "./agent.ts";
import { parseConfig, USAGE, UsageError } from "./config.ts";
import { EXIT, FatalError } from "./identity.ts";

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.argv.slice(2), process.env, os.hostname().split(".")[0]!.toLowerCase());
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ferry-agent: ${err.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  if (!config) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger("ferry-agent", config.logLevel);
  const stop = new AbortController();
  process.once("SIGTERM", () => stop.abort());
  process.once("SIGINT", () => stop.abort());
  try {
    return await runAgent(config, log, stop.signal);
  } catch (err) {
    if (err instanceof FatalError) {
      process.stderr.write(`ferry-agent: ${err.message}\n`);
      return err.exitCode;
    }
    log.fatal({ err }, "the agent failed");
    process.stderr.write(`ferry-agent: ${(err as Error)?.message ?? err}\n`);
    return 1;
  }
}

process.exitCode = await main();
// Open handles (sockets kept alive by the HTTP agent) must not keep a stopped agent alive.
setTimeout(() => process.exit(), 200).unref();
