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
import { murmur3x86_128, murmur3x86_128CsvRecord } from "../../src/dataplane/murmur3.ts";

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

test("a CSV record's hash, found in the same pass as its end, is MurmurHash3 of the record", () => {
  const QUOTE = 0x22;
  const out = new Uint32Array(4);
  const want = new Uint32Array(4);
  // Bytes a CSV chunk holds, newlines and quotes anywhere (also next to bytes with the high bit set,
  // which the four-bytes-at-a-time test must not mistake for them), cut at any start.
  const plain = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 40 });
  const special = fc.constantFrom(0x0a, 0x22, 0x22, 0x8a, 0xa2, 0x00, 0xff);
  // Runs of plain bytes, each ended by a special one: any of them may fall in any lane of a block.
  const bytesArb = fc
    .tuple(fc.array(fc.tuple(plain, special), { maxLength: 10 }), plain)
    .map(([runs, last]) => [...runs.flatMap(([run, s]) => [...run, s]), ...last]);
  fc.assert(
    fc.property(bytesArb, fc.nat(), (bytes, at) => {
      const b = Buffer.from(bytes);
      const start = b.length === 0 ? 0 : at % (b.length + 1);
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const got = murmur3x86_128CsvRecord(b, view, start, QUOTE, out);
      // The record's end, the plain way: the first "\n" with the quotes before it paired.
      let end = -1;
      let quoted = false;
      for (let j = start; j < b.length && end < 0; j++) {
        if (b[j] === QUOTE) quoted = !quoted;
        else if (b[j] === 0x0a && !quoted) end = j;
      }
      assert.equal(got, end);
      if (end >= 0) {
        murmur3x86_128(b, start, end, want);
        assert.equal(hex(out), hex(want));
      }
    }),
    { numRuns: 3000 },
  );
  // The known vectors, as records of a larger buffer; a "\n" inside quotes does not end one.
  const records = Buffer.from(
    'xyThe quick brown fox jumps over the lazy dog\n1,2,"x, ""y""",,true\n"a\nb"\n',
  );
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const first = murmur3x86_128CsvRecord(records, view, 2, QUOTE, out);
  assert.equal(first, records.indexOf("\n"));
  assert.equal(hex(out), "2f1583c3ecee2c675d7bf66ce5e91d2c");
  const second = murmur3x86_128CsvRecord(records, view, first + 1, QUOTE, out);
  assert.equal(records.subarray(first + 1, second).toString(), '1,2,"x, ""y""",,true');
  assert.equal(hex(out), "a1fa2a6f38be5d07fe9264bf1cbe7e98");
  const third = murmur3x86_128CsvRecord(records, view, second + 1, QUOTE, out);
  assert.equal(records.subarray(second + 1, third).toString(), '"a\nb"');
  assert.equal(murmur3x86_128CsvRecord(records, view, third + 1, QUOTE, out), -1, "no record left");
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
  // Long enough for whole 16-byte blocks between the quotes and newlines.
  fc.string({ unit: fc.constantFrom("a", "1", " ", ".", "é"), minLength: 16, maxLength: 60 }),
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
      const fromHashes = new ContentChecksum();
      const splitter = new CsvRecordSplitter('"', (b, s, e, h) => {
        fromBytes.addRecord(b, s, e);
        fromHashes.addHash(h);
      });
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
      assert.equal(fromHashes.toString(), fromFields.toString(), "the splitter's hashes are the records'");
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
