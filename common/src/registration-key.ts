/**
 * The registration key: everything an agent outside the cluster needs to join a gateway (API
 * server, its CA, a token scoped to the gateway, the gateway's name). The operator writes it into
 * the `<gateway>-registration` Secret; `ferry-agent --key` reads it. See docs/architecture.md.
 */
export interface RegistrationKey {
  v: 1;
  server: string;
  ca: string;
  token: string;
  namespace: string;
  gateway: string;
}

export class RegistrationKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistrationKeyError";
  }
}

export function encodeRegistrationKey(key: RegistrationKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** Parses a key, with an error that says what is wrong and never echoes the token. */
export function decodeRegistrationKey(text: string): RegistrationKey {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) {
    throw new RegistrationKeyError("the registration key is malformed: it is not base64url text");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(trimmed, "base64url").toString("utf8"));
  } catch {
    throw new RegistrationKeyError("the registration key is malformed: it does not decode to JSON");
  }
  const key = parsed as Partial<RegistrationKey>;
  if (key === null || typeof key !== "object" || key.v !== 1) {
    throw new RegistrationKeyError("the registration key has an unsupported version (expected v1)");
  }
  for (const field of ["server", "ca", "token", "namespace", "gateway"] as const) {
    if (typeof key[field] !== "string" || key[field] === "") {
      throw new RegistrationKeyError(`the registration key is malformed: ${field} is missing`);
    }
  }
  return key as RegistrationKey;
}
