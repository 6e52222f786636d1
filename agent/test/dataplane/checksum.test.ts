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

/** The records of b the plain way: each ends at the first "\n" with the quotes before it paired. */
function plainRecords(b: Uint8Array): { records: [number, number][]; open: boolean } {
  const records: [number, number][] = [];
  let start = 0;
  let quoted = false;
  for (let j = 0; j < b.length; j++) {
    if (b[j] === 0x22) quoted = !quoted;
    else if (b[j] === 0x0a && !quoted) {
      records.push([start, j]);
      start = j + 1;
    }
  }
  if (start < b.length && !quoted) records.push([start, b.length]);
  return { records, open: quoted };
}

/** What a splitter hands over for these chunks: each record's text and hash. */
function split(chunks: Uint8Array[]): { text: string; hash: string }[] {
  const seen: { text: string; hash: string }[] = [];
  const splitter = new CsvRecordSplitter('"', (b, s, e, h) =>
    seen.push({ text: Buffer.from(b.subarray(s, e)).toString("latin1"), hash: hex(h) }),
  );
  for (const c of chunks) splitter.push(c);
  splitter.end();
  assert.equal(splitter.records, seen.length);
  return seen;
}

function expected(b: Buffer): { text: string; hash: string }[] {
  const want = new Uint32Array(4);
  return plainRecords(b).records.map(([s, e]) => {
    murmur3x86_128(b, s, e, want);
    return { text: b.subarray(s, e).toString("latin1"), hash: hex(want) };
  });
}

test("each CSV record is found where it ends and hashed as MurmurHash3 of its bytes", () => {
  // Bytes a CSV chunk holds, newlines and quotes anywhere (also next to bytes with the high bit set
  // and zeros), in one chunk or cut anywhere.
  const plain = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 40 });
  const special = fc.constantFrom(0x0a, 0x22, 0x22, 0x8a, 0xa2, 0x00, 0xff);
  // Runs of plain bytes, each ended by a special one: any of them may fall in any lane of a block.
  const bytesArb = fc
    .tuple(fc.array(fc.tuple(plain, special), { maxLength: 10 }), plain)
    .map(([runs, last]) => [...runs.flatMap(([run, s]) => [...run, s]), ...last]);
  fc.assert(
    fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 4 }), (bytes, cutsRaw) => {
      const b = Buffer.from(bytes);
      const cuts = [...new Set(cutsRaw.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
      const chunks = [...cuts, b.length].map((c, k, all) => b.subarray(k === 0 ? 0 : all[k - 1], c));
      if (plainRecords(b).open) assert.throws(() => split(chunks), /unterminated quoted field/);
      else assert.deepEqual(split(chunks), expected(b));
    }),
    { numRuns: 3000 },
  );
  // The known vectors, as records; a "\n" inside quotes does not end one.
  const records = Buffer.from('The quick brown fox jumps over the lazy dog\n1,2,"x, ""y""",,true\n"a\nb"\n');
  assert.deepEqual(split([records]), [
    { text: "The quick brown fox jumps over the lazy dog", hash: "2f1583c3ecee2c675d7bf66ce5e91d2c" },
    { text: '1,2,"x, ""y""",,true', hash: "a1fa2a6f38be5d07fe9264bf1cbe7e98" },
    { text: '"a\nb"', hash: expected(Buffer.from('"a\nb"\n'))[0]!.hash },
  ]);
});

test("records in chunks larger than the splitter's window: many records, and one longer than the window", () => {
  // 600,000 records of two bytes: more than one window (1 MiB) and more records than one call into
  // the scanner reports (16,384), in one chunk.
  const tiny = Buffer.from("7\n".repeat(600_000));
  const got = split([tiny]);
  assert.equal(got.length, 600_000);
  assert.deepEqual(got[599_999], expected(Buffer.from("7\n"))[0]);
  // A record of 1.5 MiB whose quoted field holds newlines, between short ones, in one chunk and in
  // chunks of 700 KiB; a quoted section that opens in one window and closes in the next.
  const long = `1,"${"ab\ncd,".repeat(262_144)}"`;
  const b = Buffer.from(`0,x\n${long}\n2,y\n${"z".repeat((1 << 20) - 10)}"q\nq"\n3\n`);
  const want = expected(b);
  assert.deepEqual(
    want.map((r) => r.text.length),
    [3, long.length, 3, (1 << 20) - 10 + 5, 1],
  );
  assert.deepEqual(split([b]), want);
  const cut = 700 * 1024;
  assert.deepEqual(split([b.subarray(0, cut), b.subarray(cut, 2 * cut), b.subarray(2 * cut)]), want);
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
