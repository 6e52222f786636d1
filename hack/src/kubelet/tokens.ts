/**
 * Bound ServiceAccount tokens for projected volumes, kept fresh the way kubelet's token manager
 * does: a token is reused until 80% of its lifetime (or 24 hours) has passed, then requested again,
 * and the volume sync writes the new one into place.
 */
import { type BoundToken, type RawApi, requestToken } from "./api.ts";

/** Kubelet's minimum; the API server refuses shorter. */
export const MIN_EXPIRATION_SECONDS = 600;

interface Cached extends BoundToken {
  issuedAt: number;
}

export class TokenManager {
  readonly #api: RawApi;
  readonly #now: () => number;
  readonly #tokens = new Map<string, Cached>();

  constructor(api: RawApi, now: () => number = Date.now) {
    this.#api = api;
    this.#now = now;
  }

  async token(
    pod: { namespace: string; name: string; uid: string },
    serviceAccount: string,
    options: { audience?: string; expirationSeconds?: number },
  ): Promise<string> {
    const expirationSeconds = Math.max(options.expirationSeconds ?? 3600, MIN_EXPIRATION_SECONDS);
    const key = `${pod.uid}/${serviceAccount}/${options.audience ?? ""}/${expirationSeconds}`;
    const cached = this.#tokens.get(key);
    if (cached && !needsRefresh(cached, this.#now())) return cached.token;
    const issuedAt = this.#now();
    const fresh = await requestToken(this.#api, pod, serviceAccount, { ...options, expirationSeconds });
    this.#tokens.set(key, { ...fresh, issuedAt });
    return fresh.token;
  }

  /** Forgets the tokens of a pod that is gone (they die with it on the server's side too). */
  forget(uid: string): void {
    for (const key of this.#tokens.keys()) if (key.startsWith(`${uid}/`)) this.#tokens.delete(key);
  }
}

export function needsRefresh(token: { issuedAt: number; expiresAt: number }, now: number): boolean {
  const lifetime = token.expiresAt - token.issuedAt;
  return now >= token.issuedAt + Math.min(lifetime * 0.8, 24 * 3600_000);
}
