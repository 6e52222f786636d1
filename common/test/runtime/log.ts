/**
 * A pino logger for tests that keeps every line for assertions (and prints them when
 * FERRY_TEST_LOG is set, to follow a failing test).
 */
import pino, { type Logger } from "pino";

export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

export function testLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: "debug" },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
        if (process.env.FERRY_TEST_LOG) process.stderr.write(line);
      },
    },
  );
  return { log, lines };
}
