import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  bundle,
  type CertificateAndKey,
  certificateInfo,
  createCa,
  issueNodeCertificate,
  needsReissue,
  REISSUE_POLICIES,
  type ReissueInput,
  type ReissueReason,
} from "../../src/pki/index.ts";

const T0 = new Date("2025-03-04T10:00:00Z");
const DAY = 86_400_000;
const NAMES = ["gw-0", "gw-0.ferry.svc", "localhost", "127.0.0.1"];

let ca: CertificateAndKey;
let otherCa: CertificateAndKey;
let cert: CertificateAndKey;
let otherKey: string;
let fromOtherCa: CertificateAndKey;
/** When `cert` enters its last third. */
let renewAt: Date;

before(async () => {
  ca = await createCa({ commonName: "ferry-gw-ca", now: T0, validityDays: 3650 });
  otherCa = await createCa({ commonName: "ferry-gw-ca", now: T0, validityDays: 3650 });
  cert = await issueNodeCertificate({ ca, dnsNames: NAMES, commonName: "gw-0", now: T0, validityDays: 90 });
  otherKey = (
    await issueNodeCertificate({ ca, dnsNames: NAMES, commonName: "gw-0", now: T0, validityDays: 90 })
  ).keyPem;
  fromOtherCa = await issueNodeCertificate({
    ca: otherCa,
    dnsNames: NAMES,
    commonName: "gw-0",
    now: T0,
    validityDays: 90,
  });
  const info = certificateInfo(cert.certPem);
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  renewAt = new Date(info.notAfter.getTime() - lifetime / 3);
});

type Mod = (input: ReissueInput) => void;

/** The current certificate of gw-0, checked a day after issue. Evaluated lazily: fixtures are async. */
function reissueInput(...mods: Mod[]): ReissueInput {
  const input: ReissueInput = {
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    caBundlePem: ca.certPem,
    expectedDnsNames: NAMES,
    now: new Date(T0.getTime() + DAY),
  };
  for (const mod of mods) mod(input);
  return input;
}
const at =
  (now: () => Date): Mod =>
  (i) => {
    i.now = now();
  };
const set =
  <K extends keyof ReissueInput>(key: K, value: ReissueInput[K]): Mod =>
  (i) => {
    i[key] = value;
  };
/** The Secret holds this certificate and key. */
const holds =
  (pair: () => { certPem?: string; keyPem?: string }): Mod =>
  (i) => {
    i.certPem = pair().certPem;
    i.keyPem = pair().keyPem;
  };

const cases: { name: string; input: () => ReissueInput; reason: ReissueReason; says?: string }[] = [
  { name: "a fresh certificate", input: () => reissueInput(), reason: "Valid" },
  {
    name: "nothing yet",
    input: () => reissueInput(holds(() => ({}))),
    reason: "Missing",
  },
  {
    name: "no certificate",
    input: () => reissueInput(set("certPem", undefined)),
    reason: "Missing",
    says: "no certificate",
  },
  { name: "no key", input: () => reissueInput(set("keyPem", "")), reason: "Missing", says: "no key" },
  {
    name: "a certificate that does not parse",
    input: () =>
      reissueInput(set("certPem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
    reason: "Invalid",
  },
  {
    name: "a key that does not parse",
    input: () => reissueInput(set("keyPem", "garbage")),
    reason: "Invalid",
  },
  {
    name: "a key of another certificate",
    input: () => reissueInput(set("keyPem", otherKey)),
    reason: "Invalid",
    says: "does not belong",
  },
  {
    name: "issued by another CA with the same name",
    input: () => reissueInput(holds(() => fromOtherCa)),
    reason: "IssuerChanged",
  },
  {
    name: "the bundle no longer holds its CA",
    input: () => reissueInput(set("caBundlePem", otherCa.certPem)),
    reason: "IssuerChanged",
  },
  {
    name: "an empty bundle",
    input: () => reissueInput(set("caBundlePem", "")),
    reason: "IssuerChanged",
  },
  {
    name: "its CA is one of several in the bundle (rotation)",
    input: () => reissueInput(set("caBundlePem", bundle([otherCa.certPem, ca.certPem]))),
    reason: "Valid",
  },
  {
    name: "a name was added",
    input: () => reissueInput(set("expectedDnsNames", [...NAMES, "gw-0.ferry.svc.cluster.local"])),
    reason: "NamesChanged",
    says: "missing: gw-0.ferry.svc.cluster.local",
  },
  {
    name: "a name was removed",
    input: () =>
      reissueInput(
        set(
          "expectedDnsNames",
          NAMES.filter((n) => n !== "127.0.0.1"),
        ),
      ),
    reason: "NamesChanged",
    says: "extra: 127.0.0.1",
  },
  {
    name: "names in another order and case are the same names",
    input: () =>
      reissueInput(set("expectedDnsNames", ["LOCALHOST", "127.0.0.1", "gw-0.ferry.svc", "gw-0", "gw-0"])),
    reason: "Valid",
  },
  {
    name: "just before the renewal period",
    input: () => reissueInput(at(() => new Date(renewAt.getTime() - 1000))),
    reason: "Valid",
  },
  {
    name: "at the start of the renewal period",
    input: () => reissueInput(at(() => renewAt)),
    reason: "Expiring",
    says: "last 33%",
  },
  {
    name: "expired",
    input: () => reissueInput(at(() => new Date(T0.getTime() + 100 * DAY))),
    reason: "Expiring",
    says: "expired",
  },
  {
    name: "a larger renewBeforeFraction renews earlier",
    input: () => reissueInput(set("renewBeforeFraction", 0.99)),
    reason: "Expiring",
  },
  {
    name: "order: wrong issuer and expiring says IssuerChanged",
    input: () =>
      reissueInput(
        holds(() => fromOtherCa),
        at(() => renewAt),
      ),
    reason: "IssuerChanged",
  },
  {
    name: "order: names changed and expiring says NamesChanged",
    input: () =>
      reissueInput(
        set("expectedDnsNames", ["gw-0"]),
        at(() => renewAt),
      ),
    reason: "NamesChanged",
  },
  {
    name: "order: a mismatched key and a wrong issuer says Invalid",
    input: () => reissueInput(holds(() => ({ certPem: fromOtherCa.certPem, keyPem: otherKey }))),
    reason: "Invalid",
  },
];

describe("needsReissue", () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = needsReissue(c.input());
      assert.equal(d.reason, c.reason, d.message);
      assert.equal(d.reissue, c.reason !== "Valid");
      if (c.says) assert.ok(d.message.includes(c.says), `"${d.message}" should mention "${c.says}"`);
    });
  }

  test("Valid says when to look again: the start of the last third of the lifetime", () => {
    const d = needsReissue(reissueInput());
    assert.deepEqual(d.renewAt, renewAt);
  });

  test("the policies run in the documented order", () => {
    assert.deepEqual(
      REISSUE_POLICIES.map(([reason]) => reason),
      ["Missing", "Invalid", "IssuerChanged", "NamesChanged", "Expiring"],
    );
  });
});
