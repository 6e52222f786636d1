;; PostgreSQL's own text of timestamps and booleans made canonical in the bytes of a COPY, in
;; WebAssembly: the agent does here what the canonical projection would otherwise ask PostgreSQL to
;; do per row (replace(..., ' ', 'T') || 'Z', CASE ... 'true'/'false'), which cost the source more
;; CPU than this pass costs the agent. postgres-text.ts drives it; compiled into postgres-text.wasm
;; by `npm run generate` (hack/src/wasm.ts, with wabt).
;;
;; Records are CSV in the canonical dialect: "," between fields, '"' quotes (a doubled quote reads
;; as a close and an open, so the parity holds), "\n" after each record. Each column has a code:
;;   0  copied as it is;
;;   1  timestamp:   the first space becomes "T"              ("2024-01-31 12:34:56" -> "2024-01-31T12:34:56")
;;   2  timestamptz: that, and "Z" after the time              ("0044-03-15 12:00:00 BC" -> "0044-03-15T12:00:00Z BC")
;;   3  boolean:     "t" -> "true", "f" -> "false".
;; A field without a space (infinity, -infinity, NULL as an empty field) is copied as it is, which
;; is what the projection's regexp_replace does with it. These fields are never quoted by COPY.
(module
  (memory (export "memory") 1)
  (global $consumed (export "consumed") (mut i32) (i32.const 0))

  ;; The first space in [s, e), or e; 16 bytes at a time (reads up to 15 bytes past e).
  (func $space (param $s i32) (param $e i32) (result i32)
    (local $m i32) (local $n i32)
    (loop $next
      (if (i32.ge_u (local.get $s) (local.get $e)) (then (return (local.get $e))))
      (local.set $m (i8x16.bitmask (i8x16.eq (v128.load (local.get $s)) (i8x16.splat (i32.const 32)))))
      (local.set $n (i32.sub (local.get $e) (local.get $s)))
      (if (i32.lt_u (local.get $n) (i32.const 16))
        (then (local.set $m (i32.and (local.get $m)
          (i32.sub (i32.shl (i32.const 1) (local.get $n)) (i32.const 1))))))
      (if (local.get $m) (then (return (i32.add (local.get $s) (i32.ctz (local.get $m))))))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (br $next))
    (local.get $e))

  ;; Copies n bytes from src to dst, 16 at a time: up to 15 bytes past dst + n are overwritten (the
  ;; output is written in order, so what comes next overwrites them) and read past src + n. Short
  ;; copies this way cost a fraction of memory.copy's call.
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (loop $next
      (if (i32.gt_s (local.get $n) (i32.const 0))
        (then
          (v128.store (local.get $dst) (v128.load (local.get $src)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $n (i32.sub (local.get $n) (i32.const 16)))
          (br $next)))))

  ;; Writes field [s, e) of column code `code` at o, made canonical; returns where it ends.
  (func $field (param $s i32) (param $e i32) (param $o i32) (param $code i32) (result i32)
    (local $k i32) (local $m i32) (local $c i32)
    (if (i32.eq (local.get $code) (i32.const 3))
      (then
        (if (i32.eq (i32.sub (local.get $e) (local.get $s)) (i32.const 1))
          (then
            (local.set $c (i32.load8_u (local.get $s)))
            (if (i32.eq (local.get $c) (i32.const 0x74))
              (then
                (i32.store (local.get $o) (i32.const 0x65757274)) ;; "true"
                (return (i32.add (local.get $o) (i32.const 4)))))
            (if (i32.eq (local.get $c) (i32.const 0x66))
              (then
                (i32.store (local.get $o) (i32.const 0x736c6166)) ;; "fals"
                (i32.store8 offset=4 (local.get $o) (i32.const 0x65)) ;; "e"
                (return (i32.add (local.get $o) (i32.const 5)))))))
        (call $copy (local.get $o) (local.get $s) (i32.sub (local.get $e) (local.get $s)))
        (return (i32.add (local.get $o) (i32.sub (local.get $e) (local.get $s))))))
    (local.set $k (call $space (local.get $s) (local.get $e)))
    (if (i32.ge_u (local.get $k) (local.get $e))
      (then
        (call $copy (local.get $o) (local.get $s) (i32.sub (local.get $e) (local.get $s)))
        (return (i32.add (local.get $o) (i32.sub (local.get $e) (local.get $s))))))
    ;; The date, "T", the time, then "Z" (timestamptz) and what follows (" BC").
    (call $copy (local.get $o) (local.get $s) (i32.sub (local.get $k) (local.get $s)))
    (local.set $o (i32.add (local.get $o) (i32.sub (local.get $k) (local.get $s))))
    (i32.store8 (local.get $o) (i32.const 0x54))
    (local.set $o (i32.add (local.get $o) (i32.const 1)))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (local.set $m (call $space (local.get $k) (local.get $e)))
    (call $copy (local.get $o) (local.get $k) (i32.sub (local.get $m) (local.get $k)))
    (local.set $o (i32.add (local.get $o) (i32.sub (local.get $m) (local.get $k))))
    (if (i32.eq (local.get $code) (i32.const 2))
      (then
        (i32.store8 (local.get $o) (i32.const 0x5a))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))))
    (call $copy (local.get $o) (local.get $m) (i32.sub (local.get $e) (local.get $m)))
    (i32.add (local.get $o) (i32.sub (local.get $e) (local.get $m))))

  ;; Rewrites the complete records of [$start, $end) to $out: a column's code is the byte at
  ;; $codes + its index, for $ncols columns (fields past them are copied). Returns where the output
  ;; ends; $consumed is where the first record not complete in [$start, $end) starts. The output
  ;; needs room for the input plus 4 bytes per code-3 field and 1 per code-2 field.
  (func (export "rewrite") (param $start i32) (param $end i32) (param $out i32) (param $codes i32) (param $ncols i32) (result i32)
    (local $i i32) (local $n i32) (local $v v128) (local $comma v128) (local $lf v128) (local $q v128)
    (local $cm i32) (local $lm i32) (local $qm i32) (local $bits i32) (local $p i32) (local $pos i32)
    (local $quoted i32) (local $field i32) (local $fs i32) (local $from i32) (local $o i32)
    (local $done i32) (local $oDone i32) (local $code i32) (local $c i32)
    (local.set $comma (i8x16.splat (i32.const 0x2c)))
    (local.set $lf (i8x16.splat (i32.const 0x0a)))
    (local.set $q (i8x16.splat (i32.const 0x22)))
    (local.set $i (local.get $start))
    (local.set $fs (local.get $start))
    (local.set $from (local.get $start))
    (local.set $done (local.get $start))
    (local.set $o (local.get $out))
    (local.set $oDone (local.get $out))
    (block $eof
      (loop $blocks
        (br_if $eof (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $n (i32.sub (local.get $end) (local.get $i)))
        (if (i32.ge_u (local.get $n) (i32.const 16))
          (then
            (local.set $v (v128.load (local.get $i)))
            (local.set $cm (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $comma))))
            (local.set $lm (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $lf))))
            (local.set $qm (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $q))))
            (local.set $n (i32.const 16)))
          (else
            ;; The last bytes, fewer than 16: their masks byte by byte.
            (local.set $cm (i32.const 0)) (local.set $lm (i32.const 0)) (local.set $qm (i32.const 0))
            (local.set $p (i32.const 0))
            (loop $tail
              (local.set $c (i32.load8_u (i32.add (local.get $i) (local.get $p))))
              (if (i32.eq (local.get $c) (i32.const 0x2c))
                (then (local.set $cm (i32.or (local.get $cm) (i32.shl (i32.const 1) (local.get $p))))))
              (if (i32.eq (local.get $c) (i32.const 0x0a))
                (then (local.set $lm (i32.or (local.get $lm) (i32.shl (i32.const 1) (local.get $p))))))
              (if (i32.eq (local.get $c) (i32.const 0x22))
                (then (local.set $qm (i32.or (local.get $qm) (i32.shl (i32.const 1) (local.get $p))))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br_if $tail (i32.lt_u (local.get $p) (local.get $n))))
            (local.set $n (i32.const 16))))
        ;; Either way the next block starts 16 bytes on (past $end after the last bytes).
        (local.set $bits (i32.or (i32.or (local.get $cm) (local.get $lm)) (local.get $qm)))
        (block $plain
          (loop $events
            (br_if $plain (i32.eqz (local.get $bits)))
            (local.set $p (i32.ctz (local.get $bits)))
            (local.set $bits (i32.and (local.get $bits) (i32.sub (local.get $bits) (i32.const 1))))
            (local.set $pos (i32.add (local.get $i) (local.get $p)))
            (if (i32.and (local.get $qm) (i32.shl (i32.const 1) (local.get $p)))
              (then
                (local.set $quoted (i32.xor (local.get $quoted) (i32.const 1)))
                (br $events)))
            (br_if $events (local.get $quoted))
            ;; A comma or "\n" outside quotes ends the field [$fs, $pos).
            (if (i32.lt_u (local.get $field) (local.get $ncols))
              (then
                (local.set $code (i32.load8_u (i32.add (local.get $codes) (local.get $field))))
                (if (local.get $code)
                  (then
                    (call $copy (local.get $o) (local.get $from) (i32.sub (local.get $fs) (local.get $from)))
                    (local.set $o (i32.add (local.get $o) (i32.sub (local.get $fs) (local.get $from))))
                    (local.set $o (call $field (local.get $fs) (local.get $pos) (local.get $o) (local.get $code)))
                    (local.set $from (local.get $pos))))))
            (local.set $field (i32.add (local.get $field) (i32.const 1)))
            (local.set $fs (i32.add (local.get $pos) (i32.const 1)))
            (if (i32.and (local.get $lm) (i32.shl (i32.const 1) (local.get $p)))
              (then
                ;; The record ends: everything up to its "\n" is output once [$from, $done) is.
                (local.set $field (i32.const 0))
                (local.set $done (local.get $fs))
                (local.set $oDone (i32.add (local.get $o) (i32.sub (local.get $done) (local.get $from))))))
            (br $events)))
        (local.set $i (i32.add (local.get $i) (local.get $n)))
        (br $blocks)))
    (global.set $consumed (local.get $done))
    ;; What is left of the complete records; a rewritten field of the incomplete one is dropped.
    (if (i32.le_u (local.get $from) (local.get $done))
      (then
        (call $copy (local.get $o) (local.get $from) (i32.sub (local.get $done) (local.get $from)))))
    (local.get $oDone))
)
