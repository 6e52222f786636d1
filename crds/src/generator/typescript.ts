import type { Schema } from "../schema/dialect.ts";
import { GROUP, KINDS, VERSION } from "../schema/index.ts";
import type { KindDefinition } from "../schema/kind.ts";
import { typeName } from "../schema/type-names.ts";

/**
 * Renders the TypeScript declarations of every kind. The output is correct but not pretty; the
 * caller runs it through Biome so that the committed file is exactly what Biome would produce.
 */

interface Declaration {
  code: string;
  descriptions: Set<string>;
  isObject: boolean;
}

/** Named types in order of first use, so the file reads top-down from the kinds. */
type Declarations = Map<string, Declaration>;

const DOC_WIDTH = 96;

function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && line.length + 1 + word.length > DOC_WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

function docComment(lines: string[]): string {
  if (lines.some((l) => l.includes("*/"))) throw new Error(`"*/" in a description: ${lines.join(" ")}`);
  if (lines.length === 0) return "";
  if (lines.length === 1 && lines[0]!.length <= DOC_WIDTH - 8) return `/** ${lines[0]} */\n`;
  return `/**\n${lines.map((l) => ` * ${l}`).join("\n")}\n */\n`;
}

function propertyDoc(schema: Schema): string {
  const lines = schema.description ? wrap(schema.description) : [];
  // Object defaults are always {} here: they only make nested defaults apply, which says nothing.
  if (schema.default !== undefined && typeof schema.default !== "object") {
    lines.push(`@default ${JSON.stringify(schema.default)}`);
  }
  return docComment(lines);
}

function render(schema: Schema, decls: Declarations): string {
  const name = typeName(schema);
  if (name === undefined) return expression(schema, decls);
  const existing = decls.get(name);
  if (existing === undefined) {
    // Taking the slot before rendering the members puts a type above the types it uses.
    const decl: Declaration = {
      code: "",
      descriptions: new Set(schema.description ? [schema.description] : []),
      isObject: schema.type === "object" && schema.properties !== undefined,
    };
    decls.set(name, decl);
    decl.code = expression(schema, decls);
  } else if (existing.code !== expression(schema, decls)) {
    throw new Error(`two different schemas are both named ${name}`);
  } else if (schema.description) {
    existing.descriptions.add(schema.description);
  }
  return name;
}

function expression(schema: Schema, decls: Declarations): string {
  if (schema.nullable) return `${expression({ ...schema, nullable: false }, decls)} | null`;
  if (schema["x-kubernetes-int-or-string"]) return "number | string";
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  switch (schema.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "array": {
      if (!schema.items) throw new Error("array schema without items");
      const item = render(schema.items, decls);
      return item.includes(" ") ? `(${item})[]` : `${item}[]`;
    }
    case "object":
      if (schema.properties) return objectLiteral(schema.properties, schema.required ?? [], decls);
      if (schema.additionalProperties) return `Record<string, ${render(schema.additionalProperties, decls)}>`;
      return "Record<string, unknown>";
    case undefined:
      throw new Error(`schema without type: ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

function objectLiteral(properties: Record<string, Schema>, required: string[], decls: Declarations): string {
  const members = Object.entries(properties).map(([key, prop]) => {
    const optional = required.includes(key) ? "" : "?";
    return `${propertyDoc(prop)}${key}${optional}: ${render(prop, decls)};`;
  });
  return `{\n${members.join("\n")}\n}`;
}

function kindDeclarations(def: KindDefinition, decls: Declarations): string {
  const spec = render(def.spec, decls);
  const status = render(def.status, decls);
  // Type aliases rather than interfaces: only aliases get an implicit index signature, which makes
  // the objects assignable to Record<string, unknown>, the type generic Kubernetes code handles.
  return [
    docComment(wrap(def.description)),
    `export type ${def.kind} = {\n`,
    `apiVersion: typeof API_VERSION;\nkind: "${def.kind}";\nmetadata: ObjectMeta;\n`,
    `spec: ${spec};\nstatus?: ${status};\n};\n\n`,
    `export type ${def.kind}List = {\n`,
    `apiVersion: typeof API_VERSION;\nkind: "${def.kind}List";\nmetadata: ListMeta;\n`,
    `items: ${def.kind}[];\n};\n`,
  ].join("");
}

function namedDeclaration(name: string, decl: Declaration): string {
  const doc = decl.descriptions.size === 1 ? docComment(wrap([...decl.descriptions][0]!)) : "";
  return decl.isObject
    ? `${doc}export interface ${name} ${decl.code}\n`
    : `${doc}export type ${name} = ${decl.code};\n`;
}

function constants(): string {
  const kinds = KINDS.map((def) => {
    const value = {
      kind: def.kind,
      listKind: `${def.kind}List`,
      plural: def.plural,
      singular: def.singular,
      shortNames: def.shortNames,
    };
    return `${def.kind}: ${JSON.stringify(value)},`;
  });
  return [
    `export const GROUP = "${GROUP}";`,
    `export const VERSION = "${VERSION}";`,
    `export const API_VERSION = "${GROUP}/${VERSION}";`,
    "",
    "/** Names of every kind, as the API server knows them. */",
    `export const KINDS = {\n${kinds.join("\n")}\n} as const;`,
    "",
    "export type FerryKind = keyof typeof KINDS;",
    "",
    "/** The object type of each kind, for code generic over kinds. */",
    `export interface FerryObjects {\n${KINDS.map((d) => `${d.kind}: ${d.kind};`).join("\n")}\n}`,
    "",
    "export type FerryObject = FerryObjects[FerryKind];",
    "",
  ].join("\n");
}

export function typesSource(): string {
  const decls: Declarations = new Map();
  const kinds = KINDS.map((def) => kindDeclarations(def, decls));
  const named = [...decls].map(([name, decl]) => namedDeclaration(name, decl));
  return [
    "// Code generated by crds/src/generate.ts from crds/src/schema. DO NOT EDIT.",
    "",
    'import type { ListMeta, ObjectMeta } from "../meta.ts";',
    "",
    constants(),
    ...kinds,
    ...named,
  ].join("\n");
}
