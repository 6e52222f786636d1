import type { Schema, ValidationRule } from "./dialect.ts";
import { DNS_SUBDOMAIN } from "./patterns.ts";
import { named } from "./type-names.ts";

/**
 * References are by name within the referrer's namespace: Ferry objects never point across
 * namespaces, so a namespace's RBAC is the whole story of who can use what.
 */
function nameOnlyReference(
  typeName: string,
  description: string,
  nameDescription: string,
  rules: ValidationRule[] | undefined,
): Schema {
  return named(typeName, {
    type: "object",
    description,
    required: ["name"],
    properties: {
      name: {
        type: "string",
        description: nameDescription,
        minLength: 1,
        maxLength: 253,
        pattern: DNS_SUBDOMAIN,
      },
    },
    // Atomic so that server-side apply replaces a reference as a whole instead of merging names.
    "x-kubernetes-map-type": "atomic",
    ...(rules && { "x-kubernetes-validations": rules }),
  });
}

export function localObjectReference(description: string, rules?: ValidationRule[]): Schema {
  return nameOnlyReference(
    "LocalObjectReference",
    description,
    "Name of the referenced object, in the same namespace.",
    rules,
  );
}

export function secretReference(description: string): Schema {
  return nameOnlyReference(
    "SecretReference",
    description,
    "Name of the Secret, in the same namespace.",
    undefined,
  );
}
