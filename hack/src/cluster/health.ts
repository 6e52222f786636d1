import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { HealthCheck } from "./components.ts";
import type { Pki } from "./pki.ts";

/** One probe: resolves true on HTTP 200, false on anything else (including refused connections). */
export function probe(check: HealthCheck, pki: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL(check.url);
    const options: https.RequestOptions = { timeout: 2000 };
    if (url.protocol === "https:") {
      options.ca = readFileSync(pki.caCert);
      // Controller-manager and scheduler serve a self-signed certificate of their own.
      options.rejectUnauthorized = check.asAdmin;
      if (check.asAdmin) {
        options.cert = readFileSync(pki.adminCert);
        options.key = readFileSync(pki.adminKey);
      }
    }
    const get = url.protocol === "https:" ? https.get : http.get;
    const req = get(url, options, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
