export {
  BACKDATE_MS,
  type CertificateAndKey,
  type CertificateInfo,
  type CreateCaInput,
  certificateInfo,
  createCa,
  type IssueNodeCertificateInput,
  issueNodeCertificate,
} from "./ca.ts";
export {
  CA_ROTATION_ANNOTATIONS,
  CA_SECRET_KEYS,
  type CaRotationAction,
  type CaRotationInput,
  type CaRotationNode,
  caRotationStep,
  DEFAULT_CA_RENEW_BEFORE_FRACTION,
  DEFAULT_PROPAGATION_MS,
} from "./ca-rotation.ts";
export {
  DEFAULT_RENEW_BEFORE_FRACTION,
  needsReissue,
  REISSUE_POLICIES,
  type ReissueDecision,
  type ReissueInput,
  type ReissueReason,
} from "./renewal.ts";
export {
  bundle,
  bundleContains,
  isIssuedBy,
  parseBundle,
  splitPemBundle,
  trustedIssuer,
  validAt,
} from "./trust.ts";
