import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crdManifests, KINDS } from "../src/index.ts";
import type { Schema } from "../src/schema/dialect.ts";

interface Version {
  name: string;
  schema: { openAPIV3Schema: Schema };
  subresources?: { status?: object; scale?: object };
  additionalPrinterColumns?: { name: string; jsonPath: string; type: string }[];
  selectableFields?: { jsonPath: string }[];
}

const crds = crdManifests();

/** Every schema node with its dotted location, the root first. */
function* walk(schema: Schema, path = ""): Generator<[string, Schema]> {
  yield [path, schema];
  for (const [key, child] of Object.entries(schema.properties ?? {})) yield* walk(child, `${path}.${key}`);
  if (schema.items) yield* walk(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* walk(schema.additionalProperties, `${path}{}`);
}

function resolve(schema: Schema, jsonPath: string): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const key of jsonPath.split(".").slice(1)) node = node?.properties?.[key];
  return node;
}

describe("CRD manifests", () => {
  test("one per kind, in group ferry.dev, namespaced", () => {
    assert.deepEqual(
      crds.map((crd) => crd.metadata.name),
      Object.values(KINDS).map((k) => `${k.plural}.ferry.dev`),
    );
    for (const crd of crds) {
      assert.equal(crd.spec.group, "ferry.dev");
      assert.equal(crd.spec.scope, "Namespaced");
    }
  });

  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    const [version, ...others] = crd.spec.versions as unknown as Version[];
    assert.ok(version);
    const root = version.schema.openAPIV3Schema;

    describe(kind, () => {
      test("serves and stores exactly v1alpha1", () => {
        assert.equal(others.length, 0);
        assert.equal(version.name, "v1alpha1");
      });

      test("has short names, the ferry category and the status subresource only", () => {
        assert.equal(crd.spec.names.shortNames.length, 1);
        assert.deepEqual(crd.spec.names.categories, ["ferry"]);
        assert.deepEqual(version.subresources, { status: {} });
      });

      test("is structural: every node has a type or is int-or-string", () => {
        for (const [path, node] of walk(root)) {
          const typed = node.type !== undefined || node["x-kubernetes-int-or-string"] === true;
          assert.ok(typed, `${kind}${path} has no type`);
        }
      });

      test("documents every field (metadata excepted: the API server forbids it there)", () => {
        for (const [path, node] of walk(root)) {
          if (path === ".metadata") continue;
          assert.ok(node.description, `${kind}${path} has no description`);
        }
      });

      test("bounds every string and list, so CEL rules stay within the cost budget", () => {
        for (const [path, node] of walk(root)) {
          if (node.type === "array") assert.ok(node.maxItems !== undefined, `${kind}${path} has no maxItems`);
          if (node.type === "string" && path !== ".apiVersion" && path !== ".kind") {
            const bounded =
              node.maxLength !== undefined || node.enum !== undefined || node.format === "date-time";
            assert.ok(bounded, `${kind}${path} has no maxLength`);
          }
        }
      });

      test("states every rule's fieldPath as a field that exists", () => {
        for (const [path, node] of walk(root)) {
          for (const rule of node["x-kubernetes-validations"] ?? []) {
            assert.ok(rule.message, `${kind}${path}: rule without message`);
            if (rule.fieldPath) {
              assert.ok(resolve(node, rule.fieldPath), `${kind}${path}: no field ${rule.fieldPath}`);
            }
          }
        }
      });

      test("printer columns read existing fields and end with Age", () => {
        const columns = version.additionalPrinterColumns ?? [];
        assert.ok(columns.length >= 4);
        assert.equal(columns.at(-1)?.name, "Age");
        for (const column of columns) {
          if (column.jsonPath.startsWith(".metadata") || column.jsonPath.includes("[?(")) continue;
          assert.ok(resolve(root, column.jsonPath), `${column.name}: no field ${column.jsonPath}`);
        }
      });

      test("selectable fields are scalar fields that exist", () => {
        for (const { jsonPath } of version.selectableFields ?? []) {
          const type = resolve(root, jsonPath)?.type;
          assert.ok(type === "string" || type === "integer" || type === "boolean", `${jsonPath}: ${type}`);
        }
      });
    });
  }
});
