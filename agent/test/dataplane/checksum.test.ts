/** The two checksums: MurmurHash3, canonical records, the row sum, and finding records in bytes. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CONTENT_ALGORITHM,
  ContentChecksum,
  canonicalRecord,
  combineContentChecksums,
  combineFileChecksums,
} from "../../src/dataplane/checksum.ts";
import { CsvParser } from "../../src/dataplane/formats/csv.ts";
import { CsvRecordSplitter } from "../../src/dataplane/formats/csv-records.ts";
import { murmur3x86_128 } from "../../src/dataplane/murmur3.ts";

const hex = (words: Uint32Array) => [...words].map((w) => w.toString(16).padStart(8, "0")).join("");

test("MurmurHash3 x86-128 matches an independent implementation", () => {
  // h1..h4 from Python's mmh3 (mmh3.hash_bytes(key, 0, x64arch=False), read as four LE words).
  const known: [string, string][] = [
    ["", "00000000000000000000000000000000"],
    ["a", "a794933c5556b01b5556b01b5556b01b"],
    ["hello", "2b2444a0db91def79adb31b69adb31b6"],
    ["The quick brown fox jumps over the lazy dog", "2f1583c3ecee2c675d7bf66ce5e91d2c"],
    ['1,2,"x, ""y""",,true', "a1fa2a6f38be5d07fe9264bf1cbe7e98"],
    ["ünïcödé,€", "ce7209815549a5364b2d140456b93cdb"],
  ];
  const out = new Uint32Array(4);
  for (const [text, want] of known) {
    const b = Buffer.from(text);
    murmur3x86_128(b, 0, b.length, out);
    assert.equal(hex(out), want, JSON.stringify(text));
    // The same bytes inside a larger buffer hash the same: the range is all that counts.
    const padded = Buffer.concat([Buffer.from("xyz"), b, Buffer.from("\n!")]);
    murmur3x86_128(padded, 3, 3 + b.length, out);
    assert.equal(hex(out), want, `${JSON.stringify(text)} at an offset`);
  }
});

test("a canonical record is the fields as PostgreSQL's default CSV prints them", () => {
  assert.equal(canonicalRecord(["1", "a"]), "1,a");
  assert.equal(canonicalRecord(["1", null, ""]), '1,,""', "NULL is empty, an empty string is quoted");
  assert.equal(
    canonicalRecord(['say "hi"', "a,b", "two\nlines", "cr\r"]),
    '"say ""hi""","a,b","two\nlines","cr\r"',
  );
  assert.equal(canonicalRecord(["\\."]), '"\\."', "a lone \\. is quoted, as COPY does");
  assert.equal(canonicalRecord(["\\.", "x"]), "\\.,x");
  assert.equal(canonicalRecord(["ünï", " padded "]), "ünï, padded ");
});

test("the content checksum ignores order, counts duplicates and adds up across parts", () => {
  const rows = [
    ["1", "a"],
    ["2", null],
    ["3", "c"],
  ];
  const sum = (rs: (string | null)[][]) => {
    const c = new ContentChecksum();
    for (const r of rs) c.addFields(r);
    return c.toString();
  };
  assert.equal(sum(rows), sum([...rows].reverse()));
  assert.notEqual(sum(rows), sum([...rows, rows[0]!]), "a duplicated row changes it");
  assert.notEqual(sum(rows), sum(rows.slice(1)), "a missing row changes it");
  assert.notEqual(sum([["2", null]]), sum([["2", ""]]), "NULL and an empty string differ");
  assert.equal(combineContentChecksums([sum(rows.slice(0, 1)), sum(rows.slice(1))]), sum(rows));
  assert.equal(sum([]), `${CONTENT_ALGORITHM}:${"0".repeat(32)}`);
  // One row: its hash as the lanes, h1 first (the mmh3 vector of "1,a" above would read the same).
  const one = new ContentChecksum();
  one.addFields(["The quick brown fox jumps over the lazy dog"]);
  assert.equal(one.toString(), `${CONTENT_ALGORITHM}:2f1583c3ecee2c675d7bf66ce5e91d2c`);
  assert.notEqual(
    combineFileChecksums(["sha256:a", "sha256:b"]),
    combineFileChecksums(["sha256:b", "sha256:a"]),
  );
});

test("content checksum sums carry correctly over many rows", () => {
  const c = new ContentChecksum();
  const digest = Buffer.alloc(16, 0xff);
  for (let i = 0; i < (1 << 20) + 3; i++) c.addDigest(digest);
  // (2^128 - 1) * n mod 2^128 = -n mod 2^128
  const n = BigInt((1 << 20) + 3);
  const expected = ((1n << 128n) - n).toString(16).padStart(32, "0");
  assert.equal(c.toString(), `${CONTENT_ALGORITHM}:${expected}`);
});

test("a checksum from another algorithm is refused by name", () => {
  assert.throws(
    () => combineContentChecksums([`rowsum128:${"0".repeat(32)}`]),
    /computed with rowsum128, this agent computes murmur3-rowsum128/,
  );
});

const field = fc.oneof(
  fc.constant(null),
  fc.constant(""),
  fc.string({ unit: fc.constantFrom("a", "b", ",", '"', "\n", "\r", "é", "\\", ".", " ") }),
  fc.string({ unit: "grapheme" }),
);
const rowsArb = fc
  .integer({ min: 1, max: 4 })
  .chain((width) => fc.array(fc.array(field, { minLength: width, maxLength: width }), { maxLength: 30 }));

test("records found in bytes cut anywhere hash as their fields do", () => {
  fc.assert(
    fc.property(rowsArb, fc.array(fc.nat(), { maxLength: 12 }), (rows, cutsRaw) => {
      const bytes = Buffer.from(rows.map((r) => `${canonicalRecord(r)}\n`).join(""));
      const cuts = [...new Set(cutsRaw.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const fromBytes = new ContentChecksum();
      const splitter = new CsvRecordSplitter('"', (b, s, e) => fromBytes.addRecord(b, s, e));
      let at = 0;
      for (const c of [...cuts, bytes.length]) {
        splitter.push(bytes.subarray(at, c));
        at = c;
      }
      splitter.end();
      const fromFields = new ContentChecksum();
      for (const r of rows) fromFields.addFields(r);
      assert.equal(splitter.records, rows.length);
      assert.equal(fromBytes.toString(), fromFields.toString());
      // And the parser reads the same records back.
      const parser = new CsvParser({ delimiter: ",", quote: '"', nullValue: "" });
      const parsed = [...parser.push(bytes), ...parser.end()];
      assert.equal(parsed.length, rows.length);
    }),
  );
});

test("the record splitter: a last record without its newline counts; an open quote at the end is an error", () => {
  const seen: string[] = [];
  const s = new CsvRecordSplitter('"', (b, start, end) =>
    seen.push(Buffer.from(b.subarray(start, end)).toString()),
  );
  s.push(Buffer.from('1,"a\nb'));
  s.push(Buffer.from('"\n2,x'));
  s.end();
  assert.deepEqual(seen, ['1,"a\nb"', "2,x"]);
  const open = new CsvRecordSplitter('"', () => {});
  open.push(Buffer.from('1,"never closed\n'));
  assert.throws(() => open.end(), /unterminated quoted field/);
});
