import { type CelInput, celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { Schema, ValidationRule } from "./schema/dialect.ts";

/**
 * Evaluates `x-kubernetes-validations` rules outside the API server, with @bufbuild/cel. It covers
 * the standard library plus the strings extension, which is all Ferry's rules use; Kubernetes'
 * own CEL libraries (quantity, url, ...) are not available, so rules must not need them.
 */

const env = celEnv({ funcs: strings });

export interface RuleFailure {
  rule: ValidationRule;
  message: string;
}

/** A transition rule compares with the stored object, so it only applies to updates. */
export function isTransitionRule(rule: ValidationRule): boolean {
  return /\boldSelf\b/.test(rule.rule);
}

/**
 * Converts a JSON value to what CEL sees in the API server: integers of the schema become CEL ints
 * (bigint), objects become maps holding only the properties the schema declares (the server prunes
 * the rest before validating).
 */
function toCel(value: unknown, schema: Schema | undefined): CelInput {
  if (Array.isArray(value)) return value.map((item) => toCel(item, schema?.items));
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).flatMap(([key, child]): [string, CelInput][] => {
      const childSchema = schema?.properties?.[key] ?? schema?.additionalProperties;
      const known = childSchema !== undefined || schema?.["x-kubernetes-preserve-unknown-fields"] === true;
      return known ? [[key, toCel(child, childSchema)]] : [];
    });
    return new Map(entries);
  }
  const integral = schema?.type === "integer" || schema?.["x-kubernetes-int-or-string"] === true;
  if (typeof value === "number" && integral && Number.isInteger(value)) return BigInt(value);
  return value as CelInput;
}

/**
 * Compiles the create-time rules of one schema location into a checker of values at that location.
 * Transition rules (those reading `oldSelf`) are left out: there is no old object on create, and the
 * API server runs them itself on update.
 */
export function compileRules(rules: ValidationRule[], schema: Schema): (value: unknown) => RuleFailure[] {
  const programs = rules
    .filter((rule) => !isTransitionRule(rule))
    .map((rule) => ({ rule, run: plan(env, parse(rule.rule)) }));
  return (value) => {
    const self = toCel(value, schema);
    return programs.flatMap(({ rule, run }): RuleFailure[] => {
      const result = run({ self });
      if (result === true) return [];
      if (isCelError(result))
        return [{ rule, message: `${result.message} evaluating rule: ${rule.message}` }];
      if (result === false) return [{ rule, message: rule.message }];
      return [{ rule, message: `rule did not return a bool: ${rule.message}` }];
    });
  };
}
