import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  BACKDATE_MS,
  bundle,
  bundleContains,
  type CertificateAndKey,
  certificateInfo,
  createCa,
  isIssuedBy,
  issueNodeCertificate,
  splitPemBundle,
  trustedIssuer,
} from "../../src/pki/index.ts";
import { mutualTls } from "./tls-check.ts";

const DAY = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
// TLS checks the real clock, so these certificates are issued around it.
const NOW = new Date();
const NAMES = ["gw-0", "gw-0.ferry.svc", "localhost", "127.0.0.1"];

let ca: CertificateAndKey;
let sameNameCa: CertificateAndKey;
let node0: CertificateAndKey;
let node1: CertificateAndKey;

before(async () => {
  ca = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 30 });
  sameNameCa = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 30 });
  node0 = await issueNodeCertificate({ ca, dnsNames: NAMES, commonName: "gw-0", now: NOW, validityDays: 10 });
  node1 = await issueNodeCertificate({
    ca,
    dnsNames: ["gw-1", "gw-1.ferry.svc", "localhost", "127.0.0.1"],
    commonName: "gw-1",
    now: NOW,
    validityDays: 10,
  });
});

describe("createCa", () => {
  test("a self-signed CA valid from a little before now for validityDays", () => {
    const info = certificateInfo(ca.certPem);
    assert.equal(info.isCa, true);
    assert.equal(info.subject, "CN=ferry-gw-ca");
    assert.equal(info.issuer, "CN=ferry-gw-ca");
    assert.equal(info.notBefore.getTime(), Math.floor((NOW.getTime() - BACKDATE_MS) / 1000) * 1000);
    assert.equal(info.notAfter.getTime(), Math.floor((NOW.getTime() + 30 * DAY) / 1000) * 1000);
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(isIssuedBy(ca.certPem, ca.certPem), "self-signed");
  });

  test("two CAs get different keys and serial numbers", () => {
    assert.notEqual(
      certificateInfo(ca.certPem).serialNumber,
      certificateInfo(sameNameCa.certPem).serialNumber,
    );
    assert.notEqual(ca.keyPem, sameNameCa.keyPem);
  });

  test("rejects a non-positive validity", async () => {
    await assert.rejects(createCa({ commonName: "x", now: NOW, validityDays: 0 }), RangeError);
  });
});

describe("issueNodeCertificate", () => {
  test("the certificate verifies against its CA and carries the names, IPs as IP SANs", () => {
    assert.ok(isIssuedBy(node0.certPem, ca.certPem));
    assert.ok(trustedIssuer(node0.certPem, ca.certPem, NOW));
    const info = certificateInfo(node0.certPem);
    assert.deepEqual(info.dnsNames, ["gw-0", "gw-0.ferry.svc", "localhost"]);
    assert.deepEqual(info.ipAddresses, ["127.0.0.1"]);
    assert.equal(info.subject, "CN=gw-0");
    assert.equal(info.issuer, "CN=ferry-gw-ca");
    assert.equal(info.isCa, false);
  });

  test("serverAuth and clientAuth: nodes are servers and clients of each other", () => {
    assert.deepEqual(
      certificateInfo(node0.certPem).extendedKeyUsages.sort(),
      [SERVER_AUTH, CLIENT_AUTH].sort(),
    );
  });

  test("a CA with the same name but another key did not issue it (the signature decides)", () => {
    assert.equal(certificateInfo(sameNameCa.certPem).subject, certificateInfo(ca.certPem).subject);
    assert.equal(isIssuedBy(node0.certPem, sameNameCa.certPem), false);
    assert.equal(trustedIssuer(node0.certPem, sameNameCa.certPem, NOW), undefined);
  });

  test("a node certificate is not a CA: it issued nothing", () => {
    assert.equal(isIssuedBy(node1.certPem, node0.certPem), false);
  });

  test("validity is capped at the CA's expiry", async () => {
    const shortCa = await createCa({ commonName: "short", now: NOW, validityDays: 2 });
    const cert = await issueNodeCertificate({
      ca: shortCa,
      dnsNames: ["a"],
      commonName: "a",
      now: NOW,
      validityDays: 90,
    });
    assert.deepEqual(certificateInfo(cert.certPem).notAfter, certificateInfo(shortCa.certPem).notAfter);
  });

  test("extra ipAddresses, duplicates dropped", async () => {
    const cert = await issueNodeCertificate({
      ca,
      dnsNames: ["a", "a", "::1"],
      ipAddresses: ["10.0.0.7"],
      commonName: "a",
      now: NOW,
      validityDays: 1,
    });
    const info = certificateInfo(cert.certPem);
    assert.deepEqual(info.dnsNames, ["a"]);
    assert.deepEqual(info.ipAddresses, ["::1", "10.0.0.7"]);
  });

  test("refuses a CA key that does not belong to the CA certificate", async () => {
    await assert.rejects(
      issueNodeCertificate({
        ca: { certPem: ca.certPem, keyPem: sameNameCa.keyPem },
        dnsNames: ["a"],
        commonName: "a",
        now: NOW,
        validityDays: 1,
      }),
      /does not match/,
    );
  });

  test("refuses an expired CA", async () => {
    await assert.rejects(
      issueNodeCertificate({
        ca,
        dnsNames: ["a"],
        commonName: "a",
        now: new Date(NOW.getTime() + 31 * DAY),
        validityDays: 1,
      }),
      /expired/,
    );
  });

  test("two nodes of the same CA complete a mutual TLS handshake", async () => {
    const tls0 = { ...node0, caPem: ca.certPem };
    const tls1 = { ...node1, caPem: ca.certPem };
    assert.equal(await mutualTls(tls0, tls1), undefined);
    assert.equal(await mutualTls(tls1, tls0), undefined);
  });

  test("a node trusting another CA of the same name rejects the handshake", async () => {
    const error = await mutualTls({ ...node0, caPem: ca.certPem }, { ...node1, caPem: sameNameCa.certPem });
    assert.ok(error, "the client must refuse the server");
  });
});

describe("bundles", () => {
  test("bundle: normalised, ordered, each certificate once; non-certificates dropped", () => {
    const both = bundle([ca.certPem, `${sameNameCa.certPem}\n${ca.certPem}`, ca.keyPem]);
    assert.equal(splitPemBundle(both).length, 2);
    assert.ok(
      both.indexOf(splitPemBundle(ca.certPem)[0]!.trim()) <
        both.indexOf(splitPemBundle(sameNameCa.certPem)[0]!.trim()),
    );
    assert.equal(bundle([ca.certPem, ca.certPem]), bundle([ca.certPem]));
    assert.ok(bundleContains(both, sameNameCa.certPem));
    assert.equal(bundleContains(bundle([ca.certPem]), sameNameCa.certPem), false);
  });

  test("trustedIssuer finds the CA of a bundle that signed the certificate", () => {
    const issuer = trustedIssuer(node0.certPem, bundle([sameNameCa.certPem, ca.certPem]), NOW);
    assert.equal(issuer?.serialNumber.toLowerCase(), certificateInfo(ca.certPem).serialNumber.toLowerCase());
  });

  test("trustedIssuer checks the dates", () => {
    assert.equal(trustedIssuer(node0.certPem, ca.certPem, new Date(NOW.getTime() + 11 * DAY)), undefined);
  });
});
