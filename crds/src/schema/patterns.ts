/**
 * Regular expressions shared by several fields. The API server evaluates `pattern` with Go's RE2 and
 * ajv with JavaScript's RegExp, so these use only the syntax both agree on (no lookaround, no
 * backreferences).
 */

/** A Kubernetes object name (RFC 1123 subdomain), as most references need. */
export const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/** An RFC 1123 label: names that end up in label values, pod names or DNS names. */
export const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** metav1.Condition's own rule for `type`, copied so conditions validate as they do in core types. */
export const CONDITION_TYPE =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";

/** A CamelCase machine-readable reason, metav1.Condition's rule (conditions and attempt history). */
export const REASON = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";

/** resource.Quantity's canonical syntax ("500m", "1Gi", "2"). */
export const QUANTITY =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";

/** An environment variable name as the kubelet accepts it. */
export const ENV_VAR_NAME = "^[-._a-zA-Z][-._a-zA-Z0-9]*$";

/** A container image repository without tag or digest; the tag comes from a separate version. */
export const IMAGE_REPOSITORY =
  "^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$";

/** A container image tag. */
export const IMAGE_TAG = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/** 24-hour wall-clock time "HH:MM". */
export const CLOCK_TIME = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/** An http(s) URL; the connectors parse it properly, this only catches the obvious mistakes. */
export const HTTP_URL = "^https?://[^\\s/?#]+([/?#][^\\s]*)?$";

/**
 * An unquoted SQL identifier. Connectors quote identifiers themselves, so restricting them to plain
 * names keeps user input out of the SQL text; anything else belongs in `query`.
 */
export const SQL_IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_$]*$";

/** A table name with up to two qualifiers: `orders`, `public.orders`, `shop.dbo.orders`. */
export const SQL_TABLE = "^[A-Za-z_][A-Za-z0-9_$]*(\\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$";

/**
 * A relative object path of plain segments. No segment may start with a dot, which rules out `.`,
 * `..` and hidden files without needing lookahead; `=` is allowed for Hive-style `date=2024-01-31`.
 */
export const RELATIVE_PATH = "^[A-Za-z0-9_=-][A-Za-z0-9._=-]*(/[A-Za-z0-9_=-][A-Za-z0-9._=-]*)*$";

/**
 * A sealed credential: a version tag then unpadded base64url. The version lets the envelope change
 * (algorithm, key identifier) without a schema change.
 */
export const SEALED_CREDENTIAL = "^ferry:v1:[A-Za-z0-9_-]+$";
