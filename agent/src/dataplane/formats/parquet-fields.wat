;; Canonical CSV records parsed into Parquet column values, in WebAssembly: on the Parquet path the
;; agent's largest cost per row was parsing each field in JavaScript (parquet-csv.ts, ~0.5 s per
;; 1 M rows of the copy benchmark's table, more than Snappy and the record hash together).
;;
;; The caller copies a run of records into memory [0, end): records end with "\n", the last one
;; may end at `end` instead; "," between fields, '"' quotes (a doubled one inside), NULL an empty
;; unquoted field. `parse` appends each record's values to the columns' stages in their PLAIN
;; encoding (INT32 and INT64 little-endian, FIXED_LEN_BYTE_ARRAY big-endian, BYTE_ARRAY
;; length-prefixed, BOOLEAN one byte 0 or 1 per value, which the caller bit-packs), one definition
;; level byte per row for nullable columns, and keeps each stage's statistics: the null count, the
;; integer min and max, or where the least and greatest byte arrays lie. The caller moves the stages
;; into its column buffers and calls `reset`.
;;
;; Only the common shapes of the canonical text are parsed here, exactly as parquet-csv.ts parses
;; them; a record holding anything else (a year beyond 9999 or BC, infinity, a zone other than Z, an
;; integer or decimal of more than 18 digits, a wrong field count, a NULL in a NOT NULL column) is
;; taken back whole and left to parquet-csv.ts, which converts it through values.ts or fails with
;; its error. The source of formats/parquet-fields.wasm, compiled by `npm run generate`.
;;
;; A column is a 128-byte record at $table + 128 * c. The caller writes:
;;    0 code (parquet-csv.ts's field codes: 0 BOOL, 1 INT32, 2 INT64, 3 DEC32, 4 DEC64,
;;      5 DEC_FIXED, 6 DATE, 7 TIME, 8 TIMESTAMP, 9 BYTES)
;;    4 scale (decimals)       8 nullable (0 or 1)        12 base of the value stage
;;   16 the stage's capacity  28 base of the level stage  80 byte width (DEC_FIXED)
;; and reads back:
;;   20 bytes used in the value stage   32 nulls
;;   48 min and 56 max (i64; integers, days, microseconds, unscaled decimals, booleans as 0 or 1)
;;   64 min at, 68 its length, 72 max at, 76 its length (byte arrays; min at -1 when none)
;;   92 values (rows that are not NULL)
;; and the rest is this module's own: 24 the stage's length and 36 its nulls before this record's
;; field, 40 and 44 this record's byte array, 84 whether it is NULL, 88 the last date's days, 96 and
;; 104 the last date's 10 bytes, 108 whether there is one, 112 this record's value.
(module
  (memory (export "memory") 1)
  ;; Where the next record starts, after a call.
  (global $pos (export "pos") (mut i32) (i32.const 0))
  ;; Rows in the stages.
  (global $rows (export "rows") (mut i32) (i32.const 0))
  ;; The most rows the stages hold (the fixed-width columns' capacity).
  (global $rowCap (export "rowCap") (mut i32) (i32.const 0))
  ;; Bytes of the records the last call parsed, each without its "\n".
  (global $bytes (export "bytes") (mut i32) (i32.const 0))
  (global $table (export "table") (mut i32) (i32.const 0))
  (global $width (export "width") (mut i32) (i32.const 0))
  ;; Where the last clock parsed ended.
  (global $q (mut i32) (i32.const 0))

  ;; Empties every stage.
  (func (export "reset")
    (local $col i32) (local $stop i32)
    (global.set $rows (i32.const 0))
    (local.set $col (global.get $table))
    (local.set $stop (i32.add (global.get $table) (i32.shl (global.get $width) (i32.const 7))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $col) (local.get $stop)))
        (i32.store offset=20 (local.get $col) (i32.const 0))
        (i32.store offset=32 (local.get $col) (i32.const 0))
        (i64.store offset=48 (local.get $col) (i64.const 0x7fffffffffffffff))
        (i64.store offset=56 (local.get $col) (i64.const 0x8000000000000000))
        (i32.store offset=64 (local.get $col) (i32.const -1))
        (i32.store offset=92 (local.get $col) (i32.const 0))
        (i32.store offset=108 (local.get $col) (i32.const 0))
        (local.set $col (i32.add (local.get $col) (i32.const 128)))
        (br $each))))

  ;; The first byte equal to $a or $b in [$p, $end), or $end. Reads up to 16 bytes past $end.
  (func $find (param $p i32) (param $end i32) (param $a i32) (param $b i32) (result i32)
    (local $va v128) (local $vb v128) (local $v v128) (local $m i32) (local $left i32)
    (local.set $va (i8x16.splat (local.get $a)))
    (local.set $vb (i8x16.splat (local.get $b)))
    (loop $blocks
      (local.set $left (i32.sub (local.get $end) (local.get $p)))
      (if (i32.le_s (local.get $left) (i32.const 0)) (then (return (local.get $end))))
      (local.set $v (v128.load (local.get $p)))
      (local.set $m (i8x16.bitmask (v128.or
        (i8x16.eq (local.get $v) (local.get $va))
        (i8x16.eq (local.get $v) (local.get $vb)))))
      (if (i32.lt_u (local.get $left) (i32.const 16))
        (then (local.set $m (i32.and (local.get $m)
          (i32.sub (i32.shl (i32.const 1) (local.get $left)) (i32.const 1))))))
      (if (local.get $m) (then (return (i32.add (local.get $p) (i32.ctz (local.get $m))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $blocks))
    (local.get $end))

  ;; The $n digits at $p as a number, or -1 if one is not a digit.
  (func $digits (param $p i32) (param $n i32) (result i32)
    (local $v i32) (local $d i32) (local $stop i32)
    (local.set $stop (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $p) (local.get $stop)))
        (local.set $d (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.gt_u (local.get $d) (i32.const 9)) (then (return (i32.const -1))))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (local.get $d)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each)))
    (local.get $v))

  ;; Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), as
  ;; parquet-csv.ts's civilDays.
  (func $civil (param $y i32) (param $m i32) (param $d i32) (result i32)
    (local $era i32) (local $yoe i32) (local $doy i32)
    (if (i32.le_s (local.get $m) (i32.const 2)) (then (local.set $y (i32.sub (local.get $y) (i32.const 1)))))
    (local.set $era (i32.div_s
      (select (local.get $y) (i32.sub (local.get $y) (i32.const 399)) (i32.ge_s (local.get $y) (i32.const 0)))
      (i32.const 400)))
    (local.set $yoe (i32.sub (local.get $y) (i32.mul (local.get $era) (i32.const 400))))
    (local.set $doy (i32.sub
      (i32.add
        (i32.div_s
          (i32.add (i32.mul (i32.const 153)
            (select (i32.sub (local.get $m) (i32.const 3)) (i32.add (local.get $m) (i32.const 9))
              (i32.gt_s (local.get $m) (i32.const 2))))
            (i32.const 2))
          (i32.const 5))
        (local.get $d))
      (i32.const 1)))
    (i32.sub
      (i32.add (i32.mul (local.get $era) (i32.const 146097))
        (i32.add
          (i32.sub
            (i32.add (i32.mul (local.get $yoe) (i32.const 365)) (i32.div_u (local.get $yoe) (i32.const 4)))
            (i32.div_u (local.get $yoe) (i32.const 100)))
          (local.get $doy)))
      (i32.const 719468)))

  ;; Days since the epoch of the "YYYY-MM-DD" at $p, or i32 min if it is not one. Dates next to
  ;; each other mostly repeat: the column's last one is compared before it is parsed.
  (func $days (param $col i32) (param $p i32) (result i32)
    (local $y i32) (local $m i32) (local $d i32) (local $days i32)
    (if (i32.and (i32.load offset=108 (local.get $col))
          (i32.and
            (i64.eq (i64.load (local.get $p)) (i64.load offset=96 (local.get $col)))
            (i32.eq (i32.load16_u offset=8 (local.get $p)) (i32.load offset=104 (local.get $col)))))
      (then (return (i32.load offset=88 (local.get $col)))))
    (if (i32.or (i32.ne (i32.load8_u offset=4 (local.get $p)) (i32.const 45))
                (i32.ne (i32.load8_u offset=7 (local.get $p)) (i32.const 45)))
      (then (return (i32.const 0x80000000))))
    (local.set $y (call $digits (local.get $p) (i32.const 4)))
    (local.set $m (call $digits (i32.add (local.get $p) (i32.const 5)) (i32.const 2)))
    (local.set $d (call $digits (i32.add (local.get $p) (i32.const 8)) (i32.const 2)))
    (if (i32.or (i32.lt_s (local.get $y) (i32.const 0))
          (i32.or (i32.or (i32.lt_s (local.get $m) (i32.const 1)) (i32.gt_s (local.get $m) (i32.const 12)))
                  (i32.or (i32.lt_s (local.get $d) (i32.const 1)) (i32.gt_s (local.get $d) (i32.const 31)))))
      (then (return (i32.const 0x80000000))))
    (local.set $days (call $civil (local.get $y) (local.get $m) (local.get $d)))
    (i64.store offset=96 (local.get $col) (i64.load (local.get $p)))
    (i32.store offset=104 (local.get $col) (i32.load16_u offset=8 (local.get $p)))
    (i32.store offset=108 (local.get $col) (i32.const 1))
    (i32.store offset=88 (local.get $col) (local.get $days))
    (local.get $days))

  ;; "HH:MM:SS[.f]" (1 to 6 digits of fraction) at $p as microseconds, or -1; $q is where it ends.
  (func $clock (param $p i32) (param $end i32) (result i64)
    (local $h i32) (local $m i32) (local $s i32) (local $f i32) (local $frac i64) (local $d i32) (local $q i32)
    (if (i32.gt_s (i32.add (local.get $p) (i32.const 8)) (local.get $end)) (then (return (i64.const -1))))
    (if (i32.or (i32.ne (i32.load8_u offset=2 (local.get $p)) (i32.const 58))
                (i32.ne (i32.load8_u offset=5 (local.get $p)) (i32.const 58)))
      (then (return (i64.const -1))))
    (local.set $h (call $digits (local.get $p) (i32.const 2)))
    (local.set $m (call $digits (i32.add (local.get $p) (i32.const 3)) (i32.const 2)))
    (local.set $s (call $digits (i32.add (local.get $p) (i32.const 6)) (i32.const 2)))
    (if (i32.lt_s (i32.or (i32.or (local.get $h) (local.get $m)) (local.get $s)) (i32.const 0))
      (then (return (i64.const -1))))
    (local.set $q (i32.add (local.get $p) (i32.const 8)))
    (if (i32.and (i32.lt_u (local.get $q) (local.get $end)) (i32.eq (i32.load8_u (local.get $q)) (i32.const 46)))
      (then
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (block $done
          (loop $each
            (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
            (local.set $d (i32.sub (i32.load8_u (local.get $q)) (i32.const 48)))
            (br_if $done (i32.gt_u (local.get $d) (i32.const 9)))
            (local.set $frac (i64.add (i64.mul (local.get $frac) (i64.const 10)) (i64.extend_i32_u (local.get $d))))
            (local.set $f (i32.add (local.get $f) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $each)))
        (if (i32.or (i32.lt_s (local.get $f) (i32.const 1)) (i32.gt_s (local.get $f) (i32.const 6)))
          (then (return (i64.const -1))))
        (block $scaled
          (loop $each
            (br_if $scaled (i32.ge_s (local.get $f) (i32.const 6)))
            (local.set $frac (i64.mul (local.get $frac) (i64.const 10)))
            (local.set $f (i32.add (local.get $f) (i32.const 1)))
            (br $each)))))
    (global.set $q (local.get $q))
    (i64.add
      (i64.mul
        (i64.extend_i32_u (i32.add (i32.add (i32.mul (local.get $h) (i32.const 3600)) (i32.mul (local.get $m) (i32.const 60))) (local.get $s)))
        (i64.const 1000000))
      (local.get $frac)))

  ;; Appends a fixed-width value: 4 bytes if $four, else 8; it is also this record's value.
  (func $put (param $col i32) (param $v i64) (param $four i32)
    (local $at i32)
    (local.set $at (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=20 (local.get $col))))
    (if (local.get $four)
      (then
        (i32.store (local.get $at) (i32.wrap_i64 (local.get $v)))
        (i32.store offset=20 (local.get $col) (i32.add (i32.load offset=20 (local.get $col)) (i32.const 4))))
      (else
        (i64.store (local.get $at) (local.get $v))
        (i32.store offset=20 (local.get $col) (i32.add (i32.load offset=20 (local.get $col)) (i32.const 8)))))
    (i64.store offset=112 (local.get $col) (local.get $v)))

  ;; A decimal integer with an optional "-" at $p: its value, with $q where it ends; $q = -1 when
  ;; it has no digits or more than 18.
  (func $integer (param $p i32) (param $end i32) (result i64)
    (local $v i64) (local $d i32) (local $first i32) (local $neg i32)
    (local.set $neg (i32.and (i32.lt_u (local.get $p) (local.get $end)) (i32.eq (i32.load8_u (local.get $p)) (i32.const 45))))
    (local.set $p (i32.add (local.get $p) (local.get $neg)))
    (local.set $first (local.get $p))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $d (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $d) (i32.const 9)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each)))
    (local.set $d (i32.sub (local.get $p) (local.get $first)))
    (global.set $q (select (local.get $p) (i32.const -1)
      (i32.and (i32.ge_s (local.get $d) (i32.const 1)) (i32.le_s (local.get $d) (i32.const 18)))))
    (select (i64.sub (i64.const 0) (local.get $v)) (local.get $v) (local.get $neg)))

  ;; A decimal "[-]digits[.digits]" at $p as its unscaled value at $scale, with $q where it ends;
  ;; $q = -1 when it is not one, has more fraction digits than $scale or more than 18 digits.
  (func $decimal (param $p i32) (param $end i32) (param $scale i32) (result i64)
    (local $v i64) (local $d i32) (local $n i32) (local $fraction i32) (local $neg i32)
    (local.set $fraction (i32.const -1))
    (local.set $neg (i32.and (i32.lt_u (local.get $p) (local.get $end)) (i32.eq (i32.load8_u (local.get $p)) (i32.const 45))))
    (local.set $p (i32.add (local.get $p) (local.get $neg)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $d (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.and (i32.eq (local.get $d) (i32.const -2)) (i32.lt_s (local.get $fraction) (i32.const 0)))
          (then
            (local.set $fraction (i32.const 0))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $each)))
        (br_if $done (i32.gt_u (local.get $d) (i32.const 9)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $d))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (if (i32.ge_s (local.get $fraction) (i32.const 0))
          (then (local.set $fraction (i32.add (local.get $fraction) (i32.const 1)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $each)))
    (if (i32.lt_s (local.get $fraction) (i32.const 0)) (then (local.set $fraction (i32.const 0))))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 1))
          (i32.or (i32.gt_s (local.get $fraction) (local.get $scale))
            (i32.gt_s (i32.sub (i32.add (local.get $n) (local.get $scale)) (local.get $fraction)) (i32.const 18))))
      (then (global.set $q (i32.const -1)) (return (i64.const 0))))
    (global.set $q (local.get $p))
    (block $scaled
      (loop $each
        (br_if $scaled (i32.ge_s (local.get $fraction) (local.get $scale)))
        (local.set $v (i64.mul (local.get $v) (i64.const 10)))
        (local.set $fraction (i32.add (local.get $fraction) (i32.const 1)))
        (br $each)))
    (select (i64.sub (i64.const 0) (local.get $v)) (local.get $v) (local.get $neg)))

  ;; Whether the stage has no room for a byte array of $n bytes.
  (func $full (param $col i32) (param $n i32) (result i32)
    (i32.gt_u (i32.add (i32.add (i32.load offset=20 (local.get $col)) (i32.const 4)) (local.get $n))
              (i32.load offset=16 (local.get $col))))

  ;; The field of column $col at $p, not NULL: its value appended to the stage. Returns where it
  ;; ends, -1 when its shape is not one parsed here, -2 when the stage has no room for it.
  (func $field (param $col i32) (param $p i32) (param $end i32) (result i32)
    (local $code i32) (local $q i32) (local $v i64) (local $n i32) (local $w i32) (local $start i32)
    (local $days i32) (local $k i32)
    (local.set $code (i32.load (local.get $col)))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 34))
      (then
        ;; Quoted: only text is; its doubled quotes are copied once.
        (if (i32.ne (local.get $code) (i32.const 9)) (then (return (i32.const -1))))
        (local.set $start (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=20 (local.get $col))))
        (local.set $w (i32.add (local.get $start) (i32.const 4)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (loop $segments
          (local.set $q (call $find (local.get $p) (local.get $end) (i32.const 34) (i32.const 34)))
          (if (i32.ge_u (local.get $q) (local.get $end)) (then (return (i32.const -1))))
          (local.set $n (i32.sub (local.get $q) (local.get $p)))
          (if (i32.gt_u (i32.add (i32.add (local.get $w) (local.get $n)) (i32.const 1))
                (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=16 (local.get $col))))
            (then (return (i32.const -2))))
          (memory.copy (local.get $w) (local.get $p) (local.get $n))
          (local.set $w (i32.add (local.get $w) (local.get $n)))
          (if (i32.and (i32.lt_u (i32.add (local.get $q) (i32.const 1)) (local.get $end))
                       (i32.eq (i32.load8_u offset=1 (local.get $q)) (i32.const 34)))
            (then
              (i32.store8 (local.get $w) (i32.const 34))
              (local.set $w (i32.add (local.get $w) (i32.const 1)))
              (local.set $p (i32.add (local.get $q) (i32.const 2)))
              (br $segments))))
        (local.set $n (i32.sub (i32.sub (local.get $w) (local.get $start)) (i32.const 4)))
        (i32.store (local.get $start) (local.get $n))
        (i32.store offset=40 (local.get $col) (i32.add (local.get $start) (i32.const 4)))
        (i32.store offset=44 (local.get $col) (local.get $n))
        (i32.store offset=20 (local.get $col) (i32.sub (local.get $w) (i32.load offset=12 (local.get $col))))
        (return (i32.add (local.get $q) (i32.const 1)))))
    (block $slow
      (block $bytes
        (block $timestamp
          (block $time
            (block $date
              (block $fixed
                (block $dec64
                  (block $dec32
                    (block $int64
                      (block $int32
                        (block $bool
                          (br_table $bool $int32 $int64 $dec32 $dec64 $fixed $date $time $timestamp $bytes $slow
                            (local.get $code)))
                        ;; BOOL: "true", "t" or "1" is true, anything else false (parquet-csv.ts).
                        (local.set $q (call $find (local.get $p) (local.get $end) (i32.const 44) (i32.const 10)))
                        (local.set $n (i32.sub (local.get $q) (local.get $p)))
                        (local.set $k (i32.or
                          (i32.and (i32.eq (local.get $n) (i32.const 4))
                                   (i32.eq (i32.load (local.get $p)) (i32.const 0x65757274)))
                          (i32.and (i32.eq (local.get $n) (i32.const 1))
                                   (i32.or (i32.eq (i32.load8_u (local.get $p)) (i32.const 116))
                                           (i32.eq (i32.load8_u (local.get $p)) (i32.const 49))))))
                        (i32.store8 (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=20 (local.get $col))) (local.get $k))
                        (i32.store offset=20 (local.get $col) (i32.add (i32.load offset=20 (local.get $col)) (i32.const 1)))
                        (i64.store offset=112 (local.get $col) (i64.extend_i32_u (local.get $k)))
                        (return (local.get $q)))
                      ;; INT32
                      (local.set $v (call $integer (local.get $p) (local.get $end)))
                      (br_if $slow (i32.lt_s (global.get $q) (i32.const 0)))
                      (br_if $slow (i64.ne (local.get $v) (i64.extend_i32_s (i32.wrap_i64 (local.get $v)))))
                      (call $put (local.get $col) (local.get $v) (i32.const 1))
                      (return (global.get $q)))
                    ;; INT64
                    (local.set $v (call $integer (local.get $p) (local.get $end)))
                    (br_if $slow (i32.lt_s (global.get $q) (i32.const 0)))
                    (call $put (local.get $col) (local.get $v) (i32.const 0))
                    (return (global.get $q)))
                  ;; DEC32
                  (local.set $v (call $decimal (local.get $p) (local.get $end) (i32.load offset=4 (local.get $col))))
                  (br_if $slow (i32.lt_s (global.get $q) (i32.const 0)))
                  (br_if $slow (i64.ne (local.get $v) (i64.extend_i32_s (i32.wrap_i64 (local.get $v)))))
                  (call $put (local.get $col) (local.get $v) (i32.const 1))
                  (return (global.get $q)))
                ;; DEC64
                (local.set $v (call $decimal (local.get $p) (local.get $end) (i32.load offset=4 (local.get $col))))
                (br_if $slow (i32.lt_s (global.get $q) (i32.const 0)))
                (call $put (local.get $col) (local.get $v) (i32.const 0))
                (return (global.get $q)))
              ;; DEC_FIXED: big-endian two's complement, sign-extended to the column's width.
              (local.set $v (call $decimal (local.get $p) (local.get $end) (i32.load offset=4 (local.get $col))))
              (br_if $slow (i32.lt_s (global.get $q) (i32.const 0)))
              (i64.store offset=112 (local.get $col) (local.get $v))
              (local.set $n (i32.load offset=80 (local.get $col)))
              (local.set $w (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=20 (local.get $col))))
              (local.set $k (local.get $n))
              (block $written
                (loop $each
                  (br_if $written (i32.eqz (local.get $k)))
                  (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                  (i32.store8 (i32.add (local.get $w) (local.get $k)) (i32.wrap_i64 (local.get $v)))
                  (local.set $v (i64.shr_s (local.get $v) (i64.const 8)))
                  (br $each)))
              (i32.store offset=20 (local.get $col) (i32.add (i32.load offset=20 (local.get $col)) (local.get $n)))
              (return (global.get $q)))
            ;; DATE: "YYYY-MM-DD".
            (br_if $slow (i32.gt_s (i32.add (local.get $p) (i32.const 10)) (local.get $end)))
            (local.set $days (call $days (local.get $col) (local.get $p)))
            (br_if $slow (i32.eq (local.get $days) (i32.const 0x80000000)))
            (call $put (local.get $col) (i64.extend_i32_s (local.get $days)) (i32.const 1))
            (return (i32.add (local.get $p) (i32.const 10))))
          ;; TIME
          (local.set $v (call $clock (local.get $p) (local.get $end)))
          (br_if $slow (i64.lt_s (local.get $v) (i64.const 0)))
          (call $put (local.get $col) (local.get $v) (i32.const 0))
          (return (global.get $q)))
        ;; TIMESTAMP: "YYYY-MM-DDTHH:MM:SS[.f][Z]".
        (br_if $slow (i32.gt_s (i32.add (local.get $p) (i32.const 19)) (local.get $end)))
        (br_if $slow (i32.ne (i32.load8_u offset=10 (local.get $p)) (i32.const 84)))
        (local.set $days (call $days (local.get $col) (local.get $p)))
        (br_if $slow (i32.eq (local.get $days) (i32.const 0x80000000)))
        (local.set $v (call $clock (i32.add (local.get $p) (i32.const 11)) (local.get $end)))
        (br_if $slow (i64.lt_s (local.get $v) (i64.const 0)))
        (local.set $q (global.get $q))
        (if (i32.and (i32.lt_u (local.get $q) (local.get $end)) (i32.eq (i32.load8_u (local.get $q)) (i32.const 90)))
          (then (local.set $q (i32.add (local.get $q) (i32.const 1)))))
        (call $put (local.get $col)
          (i64.add (i64.mul (i64.extend_i32_s (local.get $days)) (i64.const 86400000000)) (local.get $v))
          (i32.const 0))
        (return (local.get $q)))
      ;; BYTES, unquoted.
      (local.set $q (call $find (local.get $p) (local.get $end) (i32.const 44) (i32.const 10)))
      (local.set $n (i32.sub (local.get $q) (local.get $p)))
      (if (call $full (local.get $col) (local.get $n)) (then (return (i32.const -2))))
      (local.set $start (i32.add (i32.load offset=12 (local.get $col)) (i32.load offset=20 (local.get $col))))
      (i32.store (local.get $start) (local.get $n))
      (memory.copy (i32.add (local.get $start) (i32.const 4)) (local.get $p) (local.get $n))
      (i32.store offset=40 (local.get $col) (i32.add (local.get $start) (i32.const 4)))
      (i32.store offset=44 (local.get $col) (local.get $n))
      (i32.store offset=20 (local.get $col)
        (i32.add (i32.load offset=20 (local.get $col)) (i32.add (local.get $n) (i32.const 4))))
      (return (local.get $q)))
    (i32.const -1))

  ;; Unsigned lexicographic order of [$a, $a + $an) and [$b, $b + $bn): Parquet's BYTE_ARRAY order.
  (func $compare (param $a i32) (param $an i32) (param $b i32) (param $bn i32) (result i32)
    (local $i i32) (local $n i32) (local $d i32)
    (local.set $n (select (local.get $an) (local.get $bn) (i32.lt_u (local.get $an) (local.get $bn))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $d (i32.sub (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                               (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
        (if (local.get $d) (then (return (local.get $d))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.sub (local.get $an) (local.get $bn)))

  ;; A whole record was parsed: its values join the stages' statistics.
  (func $tally
    (local $col i32) (local $stop i32) (local $v i64) (local $at i32) (local $n i32)
    (local.set $col (global.get $table))
    (local.set $stop (i32.add (global.get $table) (i32.shl (global.get $width) (i32.const 7))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $col) (local.get $stop)))
        (block $next
          (br_if $next (i32.load offset=84 (local.get $col)))
          (i32.store offset=92 (local.get $col) (i32.add (i32.load offset=92 (local.get $col)) (i32.const 1)))
          (if (i32.eq (i32.load (local.get $col)) (i32.const 9))
            (then
              (local.set $at (i32.load offset=40 (local.get $col)))
              (local.set $n (i32.load offset=44 (local.get $col)))
              (if (i32.lt_s (i32.load offset=64 (local.get $col)) (i32.const 0))
                (then
                  (i32.store offset=64 (local.get $col) (local.get $at))
                  (i32.store offset=68 (local.get $col) (local.get $n))
                  (i32.store offset=72 (local.get $col) (local.get $at))
                  (i32.store offset=76 (local.get $col) (local.get $n))
                  (br $next)))
              (if (i32.lt_s (call $compare (local.get $at) (local.get $n)
                      (i32.load offset=64 (local.get $col)) (i32.load offset=68 (local.get $col))) (i32.const 0))
                (then
                  (i32.store offset=64 (local.get $col) (local.get $at))
                  (i32.store offset=68 (local.get $col) (local.get $n))
                  (br $next)))
              (if (i32.gt_s (call $compare (local.get $at) (local.get $n)
                      (i32.load offset=72 (local.get $col)) (i32.load offset=76 (local.get $col))) (i32.const 0))
                (then
                  (i32.store offset=72 (local.get $col) (local.get $at))
                  (i32.store offset=76 (local.get $col) (local.get $n))))
              (br $next)))
          (local.set $v (i64.load offset=112 (local.get $col)))
          (if (i64.lt_s (local.get $v) (i64.load offset=48 (local.get $col)))
            (then (i64.store offset=48 (local.get $col) (local.get $v))))
          (if (i64.gt_s (local.get $v) (i64.load offset=56 (local.get $col)))
            (then (i64.store offset=56 (local.get $col) (local.get $v)))))
        (local.set $col (i32.add (local.get $col) (i32.const 128)))
        (br $each))))

  ;; Takes back the fields of the record being parsed from columns [$table, $stop).
  (func $untake (param $stop i32)
    (local $col i32)
    (local.set $col (global.get $table))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $col) (local.get $stop)))
        (i32.store offset=20 (local.get $col) (i32.load offset=24 (local.get $col)))
        (i32.store offset=32 (local.get $col) (i32.load offset=36 (local.get $col)))
        (local.set $col (i32.add (local.get $col) (i32.const 128)))
        (br $each))))

  ;; Parses the records of [$p, $end) into the stages. Stops before a record when $maxRows records
  ;; or $maxBytes bytes of them were parsed (1), when the stages hold $rowCap rows or a byte array
  ;; does not fit (2), or at a record this module leaves to the caller (3); 0 when the run is done.
  ;; $pos is where the next record starts. Memory must extend 16 bytes past $end.
  (func (export "parse") (param $p i32) (param $end i32) (param $maxRows i32) (param $maxBytes i32) (result i32)
    (local $start i32) (local $col i32) (local $stop i32) (local $r i32) (local $count i32) (local $upto i32)
    (local.set $stop (i32.add (global.get $table) (i32.shl (global.get $width) (i32.const 7))))
    (global.set $bytes (i32.const 0))
    (block $out
      (loop $records
        (global.set $pos (local.get $p))
        (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
        (if (i32.or (i32.ge_u (local.get $count) (local.get $maxRows))
                    (i32.ge_u (global.get $bytes) (local.get $maxBytes)))
          (then (return (i32.const 1))))
        (if (i32.ge_u (global.get $rows) (global.get $rowCap)) (then (return (i32.const 2))))
        (local.set $start (local.get $p))
        (local.set $col (global.get $table))
        (loop $fields
          (i32.store offset=24 (local.get $col) (i32.load offset=20 (local.get $col)))
          (i32.store offset=36 (local.get $col) (i32.load offset=32 (local.get $col)))
          (local.set $upto (i32.add (local.get $col) (i32.const 128)))
          (if (i32.or (i32.ge_u (local.get $p) (local.get $end))
                (i32.or (i32.eq (i32.load8_u (local.get $p)) (i32.const 44))
                        (i32.eq (i32.load8_u (local.get $p)) (i32.const 10))))
            (then
              ;; NULL
              (if (i32.eqz (i32.load offset=8 (local.get $col)))
                (then (local.set $r (i32.const -1)) (br $out)))
              (i32.store8 (i32.add (i32.load offset=28 (local.get $col)) (global.get $rows)) (i32.const 0))
              (i32.store offset=32 (local.get $col) (i32.add (i32.load offset=32 (local.get $col)) (i32.const 1)))
              (i32.store offset=84 (local.get $col) (i32.const 1)))
            (else
              (local.set $r (call $field (local.get $col) (local.get $p) (local.get $end)))
              (br_if $out (i32.lt_s (local.get $r) (i32.const 0)))
              (local.set $p (local.get $r))
              (if (i32.load offset=8 (local.get $col))
                (then (i32.store8 (i32.add (i32.load offset=28 (local.get $col)) (global.get $rows)) (i32.const 1))))
              (i32.store offset=84 (local.get $col) (i32.const 0))))
          (local.set $col (i32.add (local.get $col) (i32.const 128)))
          (if (i32.lt_u (local.get $col) (local.get $stop))
            (then
              ;; A "," before the next field.
              (if (i32.or (i32.ge_u (local.get $p) (local.get $end)) (i32.ne (i32.load8_u (local.get $p)) (i32.const 44)))
                (then (local.set $r (i32.const -1)) (br $out)))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $fields))))
        ;; The record ends here.
        (if (i32.lt_u (local.get $p) (local.get $end))
          (then (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 10))
            (then (local.set $r (i32.const -1)) (br $out)))))
        (call $tally)
        (global.set $bytes (i32.add (global.get $bytes) (i32.sub (local.get $p) (local.get $start))))
        (global.set $rows (i32.add (global.get $rows) (i32.const 1)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $records)))
    ;; The record at $start is taken back: the stages were full, or it is the caller's.
    (call $untake (local.get $upto))
    (global.set $pos (local.get $start))
    (if (result i32) (i32.and (i32.eq (local.get $r) (i32.const -2)) (i32.gt_u (global.get $rows) (i32.const 0)))
      (then (i32.const 2))
      (else (i32.const 3))))
)
