;; Snappy compression (the raw format Parquet pages use), in WebAssembly: snappyjs's algorithm (MIT,
;; Zhipeng Jia; hyparquet-writer carries a copy), one 64 KiB block at a time with a hash table of
;; up to 2^14 two-byte positions. In JavaScript it was ~0.2 s of CPU per 1 M rows of the copy
;; benchmark's Parquet copy, a fifth of the agent's; here matches are extended eight bytes at a time.
;; The source of formats/snappy.wasm, compiled by `npm run generate`; snappy.ts copies each window
;; of the input in and the compressed bytes out.
;;
;; Memory: the input window at 0 (the caller's), the output at $out (set by the caller, the window
;; plus 64 bytes on), the hash table after the output.
(module
  (memory (export "memory") 1)
  (global $out (export "out") (mut i32) (i32.const 0))
  (global $table (export "table") (mut i32) (i32.const 0))

  (func $hash (param $key i32) (param $shift i32) (result i32)
    (i32.shl (i32.shr_u (i32.mul (local.get $key) (i32.const 0x1e35a7bd)) (local.get $shift)) (i32.const 1)))

  ;; A literal of $len bytes from $ip, written at $op; returns the next $op.
  (func $literal (param $ip i32) (param $len i32) (param $op i32) (result i32)
    (local $n i32)
    (local.set $n (i32.sub (local.get $len) (i32.const 1)))
    (if (i32.lt_u (local.get $n) (i32.const 60))
      (then
        (i32.store8 (local.get $op) (i32.shl (local.get $n) (i32.const 2)))
        (local.set $op (i32.add (local.get $op) (i32.const 1))))
      (else (if (i32.lt_u (local.get $n) (i32.const 256))
        (then
          (i32.store8 (local.get $op) (i32.const 240))
          (i32.store8 offset=1 (local.get $op) (local.get $n))
          (local.set $op (i32.add (local.get $op) (i32.const 2))))
        (else
          (i32.store8 (local.get $op) (i32.const 244))
          (i32.store8 offset=1 (local.get $op) (local.get $n))
          (i32.store8 offset=2 (local.get $op) (i32.shr_u (local.get $n) (i32.const 8)))
          (local.set $op (i32.add (local.get $op) (i32.const 3)))))))
    (memory.copy (local.get $op) (local.get $ip) (local.get $len))
    (i32.add (local.get $op) (local.get $len)))

  (func $copyUpTo64 (param $op i32) (param $offset i32) (param $len i32) (result i32)
    (if (i32.and (i32.lt_u (local.get $len) (i32.const 12)) (i32.lt_u (local.get $offset) (i32.const 2048)))
      (then
        (i32.store8 (local.get $op)
          (i32.add (i32.add (i32.const 1) (i32.shl (i32.sub (local.get $len) (i32.const 4)) (i32.const 2)))
                   (i32.shl (i32.shr_u (local.get $offset) (i32.const 8)) (i32.const 5))))
        (i32.store8 offset=1 (local.get $op) (local.get $offset))
        (return (i32.add (local.get $op) (i32.const 2)))))
    (i32.store8 (local.get $op) (i32.add (i32.const 2) (i32.shl (i32.sub (local.get $len) (i32.const 1)) (i32.const 2))))
    (i32.store16 offset=1 (local.get $op) (local.get $offset))
    (i32.add (local.get $op) (i32.const 3)))

  (func $copy (param $op i32) (param $offset i32) (param $len i32) (result i32)
    (block $done
      (loop $each
        (br_if $done (i32.lt_u (local.get $len) (i32.const 68)))
        (local.set $op (call $copyUpTo64 (local.get $op) (local.get $offset) (i32.const 64)))
        (local.set $len (i32.sub (local.get $len) (i32.const 64)))
        (br $each)))
    (if (i32.gt_u (local.get $len) (i32.const 64))
      (then
        (local.set $op (call $copyUpTo64 (local.get $op) (local.get $offset) (i32.const 60)))
        (local.set $len (i32.sub (local.get $len) (i32.const 60)))))
    (call $copyUpTo64 (local.get $op) (local.get $offset) (local.get $len)))

  ;; How many bytes from $a equal those from $b, before $end (from $a) and at least $from.
  (func $match (param $a i32) (param $b i32) (param $from i32) (param $end i32) (result i32)
    (local $x i64) (local $n i32)
    (local.set $n (local.get $from))
    (block $done
      (loop $words
        (br_if $done (i32.gt_u (i32.add (i32.add (local.get $a) (local.get $n)) (i32.const 8)) (local.get $end)))
        (local.set $x (i64.xor (i64.load (i32.add (local.get $a) (local.get $n)))
                               (i64.load (i32.add (local.get $b) (local.get $n)))))
        (if (i64.ne (local.get $x) (i64.const 0))
          (then (return (i32.add (local.get $n) (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $x)) (i64.const 3)))))))
        (local.set $n (i32.add (local.get $n) (i32.const 8)))
        (br $words)))
    (block $bytes
      (loop $each
        (br_if $bytes (i32.ge_u (i32.add (local.get $a) (local.get $n)) (local.get $end)))
        (br_if $bytes (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $n)))
                              (i32.load8_u (i32.add (local.get $b) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $each)))
    (local.get $n))

  ;; Compresses [$start, $start + $size), at most 64 KiB, into $op on; returns the next $op.
  (func $fragment (param $start i32) (param $size i32) (param $op i32) (result i32)
    (local $bits i32) (local $shift i32) (local $end i32) (local $nextEmit i32) (local $limit i32)
    (local $ip i32) (local $nextIp i32) (local $nextHash i32) (local $skip i32) (local $h i32)
    (local $candidate i32) (local $base i32) (local $matched i32) (local $t i32)
    (local.set $t (global.get $table))
    (local.set $bits (i32.const 1))
    (block $sized
      (loop $grow
        (br_if $sized (i32.gt_u (i32.shl (i32.const 1) (local.get $bits)) (local.get $size)))
        (br_if $sized (i32.gt_u (local.get $bits) (i32.const 14)))
        (local.set $bits (i32.add (local.get $bits) (i32.const 1)))
        (br $grow)))
    (local.set $bits (i32.sub (local.get $bits) (i32.const 1)))
    (local.set $shift (i32.sub (i32.const 32) (local.get $bits)))
    (memory.fill (local.get $t) (i32.const 0) (i32.shl (i32.const 2) (local.get $bits)))
    (local.set $end (i32.add (local.get $start) (local.get $size)))
    (local.set $nextEmit (local.get $start))
    (if (i32.ge_u (local.get $size) (i32.const 15))
      (then
        (local.set $limit (i32.sub (local.get $end) (i32.const 15)))
        (local.set $ip (i32.add (local.get $start) (i32.const 1)))
        (local.set $nextHash (call $hash (i32.load (local.get $ip)) (local.get $shift)))
        (block $outer
          (loop $search
            (local.set $skip (i32.const 32))
            (local.set $nextIp (local.get $ip))
            ;; Hash forward, ever faster through bytes that do not match, until four bytes do.
            (loop $probe
              (local.set $ip (local.get $nextIp))
              (local.set $h (local.get $nextHash))
              (local.set $nextIp (i32.add (local.get $ip) (i32.shr_u (local.get $skip) (i32.const 5))))
              (local.set $skip (i32.add (local.get $skip) (i32.const 1)))
              (br_if $outer (i32.gt_u (local.get $ip) (local.get $limit)))
              (local.set $nextHash
                (if (result i32) (i32.le_u (local.get $nextIp) (local.get $limit))
                  (then (call $hash (i32.load (local.get $nextIp)) (local.get $shift)))
                  (else (i32.const 0))))
              (local.set $candidate (i32.add (local.get $start) (i32.load16_u (i32.add (local.get $t) (local.get $h)))))
              (i32.store16 (i32.add (local.get $t) (local.get $h)) (i32.sub (local.get $ip) (local.get $start)))
              (br_if $probe (i32.ne (i32.load (local.get $ip)) (i32.load (local.get $candidate)))))
            (local.set $op (call $literal (local.get $nextEmit) (i32.sub (local.get $ip) (local.get $nextEmit)) (local.get $op)))
            ;; Copies, as long as the next four bytes match again.
            (loop $copies
              (local.set $base (local.get $ip))
              (local.set $matched (call $match (local.get $ip) (local.get $candidate) (i32.const 4) (local.get $end)))
              (local.set $ip (i32.add (local.get $ip) (local.get $matched)))
              (local.set $op (call $copy (local.get $op) (i32.sub (local.get $base) (local.get $candidate)) (local.get $matched)))
              (local.set $nextEmit (local.get $ip))
              (br_if $outer (i32.ge_u (local.get $ip) (local.get $limit)))
              (i32.store16
                (i32.add (local.get $t) (call $hash (i32.load (i32.sub (local.get $ip) (i32.const 1))) (local.get $shift)))
                (i32.sub (i32.sub (local.get $ip) (i32.const 1)) (local.get $start)))
              (local.set $h (call $hash (i32.load (local.get $ip)) (local.get $shift)))
              (local.set $candidate (i32.add (local.get $start) (i32.load16_u (i32.add (local.get $t) (local.get $h)))))
              (i32.store16 (i32.add (local.get $t) (local.get $h)) (i32.sub (local.get $ip) (local.get $start)))
              (br_if $copies (i32.eq (i32.load (local.get $ip)) (i32.load (local.get $candidate)))))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $nextHash (call $hash (i32.load (local.get $ip)) (local.get $shift)))
            (br $search)))))
    (if (i32.lt_u (local.get $nextEmit) (local.get $end))
      (then (local.set $op (call $literal (local.get $nextEmit) (i32.sub (local.get $end) (local.get $nextEmit)) (local.get $op)))))
    (local.get $op))

  ;; Compresses the input window [0, $n) block by block to $out; returns the bytes written there.
  (func (export "compress") (param $n i32) (result i32)
    (local $pos i32) (local $op i32)
    (local.set $op (global.get $out))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $pos) (local.get $n)))
        (local.set $op (call $fragment (local.get $pos)
          (select (i32.const 65536) (i32.sub (local.get $n) (local.get $pos))
            (i32.gt_u (i32.sub (local.get $n) (local.get $pos)) (i32.const 65536)))
          (local.get $op)))
        (local.set $pos (i32.add (local.get $pos) (i32.const 65536)))
        (br $blocks)))
    (i32.sub (local.get $op) (global.get $out)))
)
