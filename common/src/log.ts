/**
 * Logging for every Ferry process: pino JSON lines on stdout, with secrets redacted by
 * configuration. Any field named like a credential is censored wherever it sits (two levels
 * deep), so a credential object passed to a log call by mistake still never reaches the log.
 */
import pino, { type Logger } from "pino";

/** Field names that hold secrets anywhere in Ferry (DataStore credentials, keys, tokens, proxy). */
export const SECRET_FIELDS = [
  "password",
  "token",
  "accountKey",
  "sasToken",
  "connectionString",
  "privateKey",
  "privateKeyPem",
  "credentials",
  "secret",
  "authorization",
  "key",
  "tls.key",
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    const f = field.includes(".") ? `["${field}"]` : field;
    paths.push(f, `*.${f}`, `*.*.${f}`);
  }
  paths.push('headers["authorization"]', 'req.headers["authorization"]');
  return paths;
}

export function createLogger(name: string, level = "info", destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: redactPaths(), censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
