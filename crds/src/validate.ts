import {
  Ajv,
  type AnySchemaObject,
  type ErrorObject,
  type FuncKeywordDefinition,
  type ValidateFunction,
} from "ajv";
import { compileRules } from "./cel.ts";
import { applyDefaults } from "./defaults.ts";
import { appendFieldPath, fieldPath } from "./field-path.ts";
import { openAPISchemas } from "./generated/schemas.ts";
import { API_VERSION, type FerryKind } from "./generated/types.ts";
import type { Schema, ValidationRule } from "./schema/dialect.ts";
import { DNS_SUBDOMAIN } from "./schema/patterns.ts";

/**
 * Validates Ferry objects the way the API server validates a create, so that tools and tests can
 * reject bad input before (or without) a cluster and name the same field the server would:
 * defaults first, then the OpenAPI schema, then the CEL rules, which are skipped when the schema
 * already found a type, required, enum, length or size error (the API server does the same, since
 * rules assume a well-formed object).
 */

export interface FieldError {
  /** The field as the API server names it: `spec.nodes.min`, `spec.agent.env[1]`. */
  field: string;
  message: string;
}

export type ValidationResult = { valid: true } | { valid: false; errors: FieldError[] };

type KeywordValidator = ReturnType<NonNullable<FuncKeywordDefinition["compile"]>>;

const CEL_KEYWORD = "x-kubernetes-validations";
const LIST_TYPE_KEYWORD = "x-kubernetes-list-type";

/** The schema failures the API server counts as blocking CEL (apiextensions' hasBlockingErr). */
const BLOCKING_KEYWORDS = new Set([
  "type",
  "required",
  "enum",
  "maxLength",
  "maxItems",
  "maxProperties",
  "anyOf",
]);

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function celKeyword(rules: ValidationRule[], parentSchema: AnySchemaObject): KeywordValidator {
  const check = compileRules(rules, parentSchema as Schema);
  const validate: KeywordValidator = (data, cxt) => {
    const failures = check(data);
    validate.errors = failures.map((failure) => ({
      keyword: CEL_KEYWORD,
      instancePath: appendFieldPath(cxt?.instancePath ?? "", failure.rule.fieldPath),
      message: failure.message,
      params: { rule: failure.rule.rule },
    }));
    return failures.length === 0;
  };
  return validate;
}

/** List-type map and set uniqueness, which the API server checks next to the schema. */
function listTypeKeyword(listType: string, parentSchema: AnySchemaObject): KeywordValidator {
  const mapKeys: string[] = parentSchema["x-kubernetes-list-map-keys"] ?? [];
  const validate: KeywordValidator = (data, cxt) => {
    validate.errors = [];
    if (listType === "atomic" || !Array.isArray(data)) return true;
    const seen = new Set<string>();
    data.forEach((item, index) => {
      const identity = JSON.stringify(listType === "map" ? mapKeys.map((key) => item?.[key]) : item);
      if (seen.has(identity)) {
        validate.errors?.push({
          keyword: LIST_TYPE_KEYWORD,
          instancePath: `${cxt?.instancePath ?? ""}/${index}`,
          message: `Duplicate value: ${identity}`,
          params: {},
        });
      }
      seen.add(identity);
    });
    return validate.errors.length === 0;
  };
  return validate;
}

function newAjv(): Ajv {
  // strictTypes is off because int-or-string fields carry keywords without a `type`, by design.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  for (const keyword of [
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
  ]) {
    ajv.addKeyword(keyword);
  }
  // Like the API server, only string formats are checked; integer formats are documentation and
  // every integer field has explicit bounds.
  for (const format of ["int32", "int64", "double"]) {
    ajv.addFormat(format, { type: "number", validate: () => true });
  }
  ajv.addFormat("date-time", RFC3339);
  ajv.addKeyword({ keyword: CEL_KEYWORD, schemaType: "array", errors: true, compile: celKeyword });
  ajv.addKeyword({
    keyword: LIST_TYPE_KEYWORD,
    schemaType: "string",
    errors: true,
    compile: listTypeKeyword,
  });
  return ajv;
}

const ajv = newAjv();
const validators = new Map<FerryKind, ValidateFunction>();

function validatorFor(kind: FerryKind): ValidateFunction {
  let validator = validators.get(kind);
  if (validator === undefined) {
    validator = ajv.compile(openAPISchemas[kind]);
    validators.set(kind, validator);
  }
  return validator;
}

function messageOf(error: ErrorObject): string {
  switch (error.keyword) {
    case "required":
      return "Required value";
    case "enum":
      return `Unsupported value: supported values: ${error.params.allowedValues.map((v: unknown) => JSON.stringify(v)).join(", ")}`;
    case "anyOf":
      return "must be an integer or a string";
    default:
      return error.message ?? error.keyword;
  }
}

function toFieldError(error: ErrorObject, object: unknown): FieldError {
  const pointer =
    error.keyword === "required"
      ? `${error.instancePath}/${error.params.missingProperty}`
      : error.instancePath;
  return { field: fieldPath(pointer, object), message: messageOf(error) };
}

/** The API server checks apiVersion and kind before anything else, and stops there if they are wrong. */
function typeMetaErrors(kind: FerryKind, object: Record<string, unknown>): FieldError[] {
  return [
    ...(object.kind === kind ? [] : [{ field: "kind", message: `must be ${kind}` }]),
    ...(object.apiVersion === API_VERSION
      ? []
      : [{ field: "apiVersion", message: `must be ${API_VERSION}` }]),
  ];
}

const dnsSubdomain = new RegExp(DNS_SUBDOMAIN);

/** The API server's own check of metadata.name, made for every kind whatever its schema says. */
function nameErrors(object: Record<string, unknown>): FieldError[] {
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const name = metadata.name;
  if (name === undefined && metadata.generateName === undefined) {
    return [{ field: "metadata.name", message: "Required value: name or generateName is required" }];
  }
  if (typeof name === "string" && (name.length > 253 || !dnsSubdomain.test(name))) {
    return [{ field: "metadata.name", message: "must be a lowercase RFC 1123 subdomain" }];
  }
  return [];
}

export function validate(kind: FerryKind, object: unknown): ValidationResult {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    return { valid: false, errors: [{ field: "", message: "must be an object" }] };
  }
  const typeErrors = typeMetaErrors(kind, object as Record<string, unknown>);
  if (typeErrors.length > 0) return { valid: false, errors: typeErrors };
  const defaulted = structuredClone(object) as Record<string, unknown>;
  applyDefaults(defaulted, openAPISchemas[kind]);
  const validator = validatorFor(kind);
  const schemaErrors = validator(defaulted) ? [] : (validator.errors ?? []);
  // An int-or-string mismatch also fails each anyOf branch; the anyOf error alone says it.
  const errors = schemaErrors.filter((e) => !e.schemaPath.includes("/anyOf/"));
  const blocked = errors.some((e) => BLOCKING_KEYWORDS.has(e.keyword));
  const reported = blocked ? errors.filter((e) => e.keyword !== CEL_KEYWORD) : errors;
  const all = [...nameErrors(defaulted), ...reported.map((e) => toFieldError(e, defaulted))];
  return all.length === 0 ? { valid: true } : { valid: false, errors: all };
}
