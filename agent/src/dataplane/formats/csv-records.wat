;; CSV records and their MurmurHash3 x86-128 (seed 0), found and hashed in one pass, in WebAssembly:
;; the CSV fast path hashes every copied row, and this loop was the agent's largest cost per row.
;; Each 16-byte block is loaded once as a vector; two compares and bitmasks say where "\n" and the
;; quote are, so a block without them goes straight into the block mix and one with them is walked
;; only at those bytes (ctz). The JavaScript it replaced read each block as four words and tested
;; them with SWAR bit tricks, then walked special blocks byte by byte: ~2.5 times slower on the
;; benchmark's rows. murmur3.ts has the same hash in JavaScript, for records given whole.
;;
;; A record ends at the first "\n" outside quotes; a doubled quote inside a quoted field reads as
;; a close and an open, so the parity holds. The source of formats/csv-records.wasm, compiled by
;; `npm run generate` (hack/src/wasm.ts, with wabt); `npm run check` fails when they differ.
(module
  (memory (export "memory") 1)
  (global $resume (export "resume") (mut i32) (i32.const 0))

  (func $fmix (param $h i32) (result i32)
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0x85ebca6b)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  ;; The low n bytes (0..4) of w.
  (func $low (param $w i32) (param $n i32) (result i32)
    (if (result i32) (i32.ge_s (local.get $n) (i32.const 4))
      (then (local.get $w))
      (else (i32.and (local.get $w)
        (i32.sub (i32.shl (i32.const 1) (i32.shl (local.get $n) (i32.const 3))) (i32.const 1))))))

  ;; Finds the records in memory [$start, $end), the first starting at $start and outside quotes.
  ;; For each complete one writes its end (the index of its "\n") and its hash h1..h4 as five
  ;; little-endian words at $out + 20 * r. Stops after $max records, or when what is left holds no
  ;; complete record. Returns the count; $resume is then where the next record starts. Reads up to
  ;; 16 bytes past a record's end (masked off): memory must extend 16 bytes past $end.
  (func (export "scan") (param $start i32) (param $end i32) (param $quote i32) (param $out i32) (param $max i32) (result i32)
    (local $count i32) (local $s i32) (local $i i32) (local $quoted i32)
    (local $h1 i32) (local $h2 i32) (local $h3 i32) (local $h4 i32)
    (local $k1 i32) (local $k2 i32) (local $k3 i32) (local $k4 i32)
    (local $v v128) (local $lf v128) (local $q v128) (local $lm i32) (local $qm i32) (local $bits i32)
    (local $p i32) (local $e i32) (local $t i32) (local $len i32) (local $c i32)
    (local.set $lf (i8x16.splat (i32.const 10)))
    (local.set $q (i8x16.splat (local.get $quote)))
    (local.set $s (local.get $start))
    (block $done
      (loop $record
        (br_if $done (i32.ge_u (local.get $count) (local.get $max)))
        (local.set $h1 (i32.const 0)) (local.set $h2 (i32.const 0))
        (local.set $h3 (i32.const 0)) (local.set $h4 (i32.const 0))
        (local.set $quoted (i32.const 0))
        (local.set $i (local.get $s))
        (local.set $e (i32.const -1))
        (block $found
          (loop $blocks
            (if (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end))
              (then
                ;; Fewer than 16 bytes left: byte by byte.
                (local.set $p (local.get $i))
                (block $nolf
                  (loop $bytes
                    (br_if $nolf (i32.ge_u (local.get $p) (local.get $end)))
                    (local.set $c (i32.load8_u (local.get $p)))
                    (if (i32.eq (local.get $c) (local.get $quote))
                      (then (local.set $quoted (i32.xor (local.get $quoted) (i32.const 1))))
                      (else (if (i32.and (i32.eq (local.get $c) (i32.const 10)) (i32.eqz (local.get $quoted)))
                        (then (local.set $e (local.get $p)) (br $found)))))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (br $bytes)))
                (br $done)))
            (local.set $v (v128.load (local.get $i)))
            (local.set $lm (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $lf))))
            (local.set $qm (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $q))))
            (local.set $bits (i32.or (local.get $lm) (local.get $qm)))
            (block $plain
              (loop $special
                (br_if $plain (i32.eqz (local.get $bits)))
                (local.set $p (i32.ctz (local.get $bits)))
                (local.set $bits (i32.and (local.get $bits) (i32.sub (local.get $bits) (i32.const 1))))
                (if (i32.and (local.get $qm) (i32.shl (i32.const 1) (local.get $p)))
                  (then (local.set $quoted (i32.xor (local.get $quoted) (i32.const 1))))
                  (else (if (i32.eqz (local.get $quoted))
                    (then (local.set $e (i32.add (local.get $i) (local.get $p))) (br $found)))))
                (br $special)))
            (local.set $k1 (i32x4.extract_lane 0 (local.get $v)))
            (local.set $k2 (i32x4.extract_lane 1 (local.get $v)))
            (local.set $k3 (i32x4.extract_lane 2 (local.get $v)))
            (local.set $k4 (i32x4.extract_lane 3 (local.get $v)))
            (local.set $h1 (i32.xor (local.get $h1)
              (i32.mul (i32.rotl (i32.mul (local.get $k1) (i32.const 0x239b961b)) (i32.const 15)) (i32.const 0xab0e9789))))
            (local.set $h1 (i32.add (i32.mul (i32.add (i32.rotl (local.get $h1) (i32.const 19)) (local.get $h2)) (i32.const 5)) (i32.const 0x561ccd1b)))
            (local.set $h2 (i32.xor (local.get $h2)
              (i32.mul (i32.rotl (i32.mul (local.get $k2) (i32.const 0xab0e9789)) (i32.const 16)) (i32.const 0x38b34ae5))))
            (local.set $h2 (i32.add (i32.mul (i32.add (i32.rotl (local.get $h2) (i32.const 17)) (local.get $h3)) (i32.const 5)) (i32.const 0x0bcaa747)))
            (local.set $h3 (i32.xor (local.get $h3)
              (i32.mul (i32.rotl (i32.mul (local.get $k3) (i32.const 0x38b34ae5)) (i32.const 17)) (i32.const 0xa1e38b93))))
            (local.set $h3 (i32.add (i32.mul (i32.add (i32.rotl (local.get $h3) (i32.const 15)) (local.get $h4)) (i32.const 5)) (i32.const 0x96cd1c35)))
            (local.set $h4 (i32.xor (local.get $h4)
              (i32.mul (i32.rotl (i32.mul (local.get $k4) (i32.const 0xa1e38b93)) (i32.const 18)) (i32.const 0x239b961b))))
            (local.set $h4 (i32.add (i32.mul (i32.add (i32.rotl (local.get $h4) (i32.const 13)) (local.get $h1)) (i32.const 5)) (i32.const 0x32ac3b17)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $blocks)))
        ;; The record is [$s, $e); its tail is [$i, $e).
        (local.set $t (i32.sub (local.get $e) (local.get $i)))
        (local.set $len (i32.sub (local.get $e) (local.get $s)))
        (if (i32.gt_s (local.get $t) (i32.const 12))
          (then (local.set $h4 (i32.xor (local.get $h4)
            (i32.mul (i32.rotl (i32.mul (call $low (i32.load offset=12 (local.get $i)) (i32.sub (local.get $t) (i32.const 12))) (i32.const 0xa1e38b93)) (i32.const 18)) (i32.const 0x239b961b))))))
        (if (i32.gt_s (local.get $t) (i32.const 8))
          (then (local.set $h3 (i32.xor (local.get $h3)
            (i32.mul (i32.rotl (i32.mul (call $low (i32.load offset=8 (local.get $i)) (i32.sub (local.get $t) (i32.const 8))) (i32.const 0x38b34ae5)) (i32.const 17)) (i32.const 0xa1e38b93))))))
        (if (i32.gt_s (local.get $t) (i32.const 4))
          (then (local.set $h2 (i32.xor (local.get $h2)
            (i32.mul (i32.rotl (i32.mul (call $low (i32.load offset=4 (local.get $i)) (i32.sub (local.get $t) (i32.const 4))) (i32.const 0xab0e9789)) (i32.const 16)) (i32.const 0x38b34ae5))))))
        (if (i32.gt_s (local.get $t) (i32.const 0))
          (then (local.set $h1 (i32.xor (local.get $h1)
            (i32.mul (i32.rotl (i32.mul (call $low (i32.load (local.get $i)) (local.get $t)) (i32.const 0x239b961b)) (i32.const 15)) (i32.const 0xab0e9789))))))
        (local.set $h1 (i32.xor (local.get $h1) (local.get $len)))
        (local.set $h2 (i32.xor (local.get $h2) (local.get $len)))
        (local.set $h3 (i32.xor (local.get $h3) (local.get $len)))
        (local.set $h4 (i32.xor (local.get $h4) (local.get $len)))
        (local.set $h1 (i32.add (i32.add (local.get $h1) (local.get $h2)) (i32.add (local.get $h3) (local.get $h4))))
        (local.set $h2 (i32.add (local.get $h2) (local.get $h1)))
        (local.set $h3 (i32.add (local.get $h3) (local.get $h1)))
        (local.set $h4 (i32.add (local.get $h4) (local.get $h1)))
        (local.set $h1 (call $fmix (local.get $h1)))
        (local.set $h2 (call $fmix (local.get $h2)))
        (local.set $h3 (call $fmix (local.get $h3)))
        (local.set $h4 (call $fmix (local.get $h4)))
        (local.set $h1 (i32.add (i32.add (local.get $h1) (local.get $h2)) (i32.add (local.get $h3) (local.get $h4))))
        (local.set $h2 (i32.add (local.get $h2) (local.get $h1)))
        (local.set $h3 (i32.add (local.get $h3) (local.get $h1)))
        (local.set $h4 (i32.add (local.get $h4) (local.get $h1)))
        (i32.store (local.get $out) (local.get $e))
        (i32.store offset=4 (local.get $out) (local.get $h1))
        (i32.store offset=8 (local.get $out) (local.get $h2))
        (i32.store offset=12 (local.get $out) (local.get $h3))
        (i32.store offset=16 (local.get $out) (local.get $h4))
        (local.set $out (i32.add (local.get $out) (i32.const 20)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (local.set $s (i32.add (local.get $e) (i32.const 1)))
        (br $record)))
    (global.set $resume (local.get $s))
    (local.get $count))
)
