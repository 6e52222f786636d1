/**
 * PostgreSQL's own text of timestamps and booleans made canonical in COPY's bytes
 * (connectors/postgres-text.ts). postgres.test.ts checks the same against a real server, edge
 * cases included; these check the stream itself: any cut of the bytes, quoted fields around the
 * rewritten ones, records longer than the module's window.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CANONICAL_CSV } from "../../src/dataplane/checksum.ts";
import { canonicalPostgresText, postgresTextCodes } from "../../src/dataplane/connectors/postgres-text.ts";
import { CsvFieldWriter } from "../../src/dataplane/formats/csv.ts";
import type { ColumnKind } from "../../src/dataplane/types.ts";
import { col, dateText, MAX_DAY, MIN_DAY } from "./canonical-values.ts";

/** A value as PostgreSQL prints it for the agent's projection, and its canonical text. */
type Pair = [native: string | null, canonical: string | null];

const pad = (n: number, w: number) => String(n).padStart(w, "0");
const clock = fc
  .tuple(fc.integer({ min: 0, max: 86_399 }), fc.integer({ min: 0, max: 999_999 }))
  .map(([s, us]) => {
    const fraction = us ? `.${pad(us, 6).replace(/0+$/, "")}` : "";
    return `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor(s / 60) % 60, 2)}:${pad(s % 60, 2)}${fraction}`;
  });
/** Dates as PostgreSQL prints them: years 1-9999, past 9999, and BC (a suffix after the time). */
const date = fc.oneof(
  fc.integer({ min: MIN_DAY, max: MAX_DAY }).map((d) => ({ date: dateText(d), bc: false })),
  fc.integer({ min: 10_000, max: 294_276 }).map((y) => ({ date: `${y}-06-07`, bc: false })),
  fc.integer({ min: 1, max: 4713 }).map((y) => ({ date: `${pad(y, 4)}-03-15`, bc: true })),
);

function pairs(kind: ColumnKind): fc.Arbitrary<Pair> {
  if (kind === "boolean") return fc.constantFrom<Pair>(["t", "true"], ["f", "false"], [null, null]);
  if (kind === "timestamp" || kind === "timestamptz") {
    const z = kind === "timestamptz" ? "Z" : "";
    return fc.oneof(
      fc.tuple(date, clock).map(([d, c]): Pair => {
        const bc = d.bc ? " BC" : "";
        return [`${d.date} ${c}${bc}`, `${d.date}T${c}${z}${bc}`];
      }),
      fc.constantFrom<Pair>(["infinity", "infinity"], ["-infinity", "-infinity"], [null, null]),
    );
  }
  // Text a rewritten field sits beside: delimiters, quotes, line breaks and spaces in it.
  const text = fc
    .array(fc.constantFrom("a", " ", ",", '"', "\n", "t", "f", "2024-01-01 00:00:00", "é"), { maxLength: 8 })
    .map((a) => a.join(""));
  return fc.oneof(
    text.map((t): Pair => [t, t]),
    fc.constant<Pair>([null, null]),
  );
}

const KINDS: ColumnKind[] = ["string", "timestamp", "timestamptz", "boolean"];
const table = fc
  .array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 6 })
  .chain((kinds) =>
    fc.tuple(
      fc.constant(kinds),
      fc.array(fc.tuple(...kinds.map(pairs)), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 5 }),
    ),
  );

/** The rows as COPY prints them in the canonical dialect: native text, or canonical text. */
function csv(rows: Pair[][], which: 0 | 1, width: number): Buffer {
  const writer = new CsvFieldWriter({ ...CANONICAL_CSV }, width);
  return Buffer.from(rows.map((r) => writer.record(r.map((p) => p[which]))).join(""));
}

async function rewritten(bytes: Buffer, cuts: number[], codes: Uint8Array): Promise<string> {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  async function* chunks() {
    let from = 0;
    for (const c of [...at, bytes.length]) {
      yield bytes.subarray(from, c);
      from = c;
    }
  }
  const out: Buffer[] = [];
  for await (const c of canonicalPostgresText(chunks(), codes)) out.push(Buffer.from(c));
  return Buffer.concat(out).toString();
}

test("timestamps and booleans as PostgreSQL prints them come out canonical, the rest byte for byte, however the bytes are cut", async () => {
  await fc.assert(
    fc.asyncProperty(table, async ([kinds, rows, cuts]) => {
      const codes = postgresTextCodes(kinds.map((k) => col(k, k)));
      const native = csv(rows, 0, kinds.length);
      const want = csv(rows, 1, kinds.length).toString();
      if (!codes) {
        assert.ok(
          kinds.every((k) => k === "string"),
          "only text needs no rewriting",
        );
        return;
      }
      assert.equal(await rewritten(native, cuts, codes), want);
    }),
    { numRuns: 400 },
  );
});

test("records longer than the module's window, and a last record without its newline", async () => {
  const codes = postgresTextCodes([col("s", "string"), col("ts", "timestamptz"), col("b", "boolean")])!;
  // A 600 KiB quoted field (commas, quotes, line breaks, spaces in it) before the rewritten ones,
  // between short records; then one record without "\n" at the end of the stream.
  const long = `"${'x, ""y""\n2024-01-01 00:00:00 '.repeat(20_000)}"`;
  const native = Buffer.from(
    `a,2024-01-31 12:34:56.5,t\n${long},0044-03-15 12:00:00 BC,f\nb,infinity,\nc,2024-02-01 00:00:00,t`,
  );
  const want = `a,2024-01-31T12:34:56.5Z,true\n${long},0044-03-15T12:00:00Z BC,false\nb,infinity,\nc,2024-02-01T00:00:00Z,true`;
  assert.equal(await rewritten(native, [], codes), want, "in one chunk");
  assert.equal(await rewritten(native, [100_000, 300_000, 500_000, 700_000], codes), want, "in pieces");
  assert.equal(await rewritten(native, [native.indexOf("0044") + 3], codes), want, "cut inside a timestamp");
});
