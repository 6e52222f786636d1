/**
 * Test connection: what a node runs for a DataStore's Reachable condition. Connect, authenticate
 * and do one trivial thing (a query, a container listing, a probe file); never throws — every
 * outcome is a result with a CamelCase reason and a message a user can act on, free of credentials.
 *
 * Reasons when unreachable include DnsFailure, ConnectionRefused, ConnectionTimeout,
 * HostUnreachable, TlsError, AuthenticationFailed, PermissionDenied, DatabaseNotFound,
 * ContainerNotFound, PathNotFound, NotADirectory, InvalidConnection; reachable: Connected.
 */
import { connectorFor } from "./connectors/index.ts";
import { DataPlaneError, redact, unknownError } from "./errors.ts";
import type { StoreConfig } from "./types.ts";

export interface TestConnectionResult {
  reachable: boolean;
  reason: string;
  message: string;
  /** Whether a retry may give another answer (the agent re-tests sooner). */
  transient: boolean;
  latencyMs: number;
}

export interface TestConnectionOptions {
  store: StoreConfig;
  /** Default 15 s: a test never hangs a node's loop. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function testConnection(options: TestConnectionOptions): Promise<TestConnectionResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const connector = await connectorFor(options.store.type);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DataPlaneError(
              "ConnectionTimeout",
              `no answer within ${timeoutMs} ms; check host, port and firewall`,
              true,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      const { detail } = await Promise.race([
        connector.testConnection(options.store, {
          timeoutMs,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
        timeout,
      ]);
      return {
        reachable: true,
        reason: "Connected",
        message: redact(
          `connected and authenticated${detail ? `: ${detail}` : ""}`,
          options.store.credentials,
        ),
        transient: false,
        latencyMs: elapsed(),
      };
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    const e =
      err instanceof DataPlaneError
        ? err
        : unknownError(err, { what: options.store.type, credentials: options.store.credentials });
    return {
      reachable: false,
      reason: e.reason,
      message: redact(e.message, options.store.credentials),
      transient: e.transient,
      latencyMs: elapsed(),
    };
  }
}
