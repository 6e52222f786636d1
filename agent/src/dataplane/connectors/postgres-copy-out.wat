;; The framing of a CopyOut stream stripped in WebAssembly: every copied row arrives as one CopyData
;; message ('d', a 4-byte big-endian length that counts itself, the row's bytes), and moving the
;; rows out of their 5-byte headers one at a time in JavaScript (a copyWithin per row) was ~60 ms
;; of the agent's CPU per 1 M rows of the copy benchmark. postgres-copy-out.ts drives it, a window
;; of a socket chunk at a time; compiled into postgres-copy-out.wasm by `npm run generate`
;; (hack/src/wasm.ts, with wabt).
;;
;; A message may be split anywhere across windows, so where the stream stands is kept in globals,
;; which the caller sets before each call and reads after it (one instance serves every stream):
;;   $code       the type byte of the current message;
;;   $header     header bytes of the current message seen so far (0 at a boundary or in a body);
;;   $length     the length bytes seen so far, big-endian;
;;   $remaining  body bytes of the current message still to come (unsigned).
(module
  (memory (export "memory") 1)
  (global $code (export "code") (mut i32) (i32.const 0))
  (global $header (export "header") (mut i32) (i32.const 0))
  (global $length (export "length") (mut i32) (i32.const 0))
  (global $remaining (export "remaining") (mut i32) (i32.const 0))
  ;; Set by strip: where a message that is not the stream's own begins (-1: none), and its type.
  (global $rest (export "rest") (mut i32) (i32.const -1))
  (global $restCode (export "restCode") (mut i32) (i32.const 0))
  ;; Set by strip: the length of a malformed message (below 4), which stops it; -1: none.
  (global $bad (export "bad") (mut i32) (i32.const -1))

  ;; Copies n bytes from src to dst, 16 at a time: up to 15 bytes past dst + n are overwritten (the
  ;; output is written in order, so what comes next overwrites them) and read past src + n. Input
  ;; and output are apart in memory, so that is safe; short copies this way cost a fraction of
  ;; memory.copy's call.
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (loop $next
      (if (i32.gt_s (local.get $n) (i32.const 0))
        (then
          (v128.store (local.get $dst) (v128.load (local.get $src)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $n (i32.sub (local.get $n) (i32.const 16)))
          (br $next)))))

  ;; Whether a message of this type may come inside CopyOut besides CopyData: CopyOutResponse 'H'
  ;; (the start), NoticeResponse 'N', ParameterStatus 'S', NotificationResponse 'A'. Skipped.
  (func $interspersed (param $c i32) (result i32)
    (i32.or
      (i32.or (i32.eq (local.get $c) (i32.const 0x48)) (i32.eq (local.get $c) (i32.const 0x4e)))
      (i32.or (i32.eq (local.get $c) (i32.const 0x53)) (i32.eq (local.get $c) (i32.const 0x41)))))

  ;; A header's length is known: the body follows, unless the length is malformed.
  (func $body (param $length i32) (result i32)
    (if (i32.lt_u (local.get $length) (i32.const 4))
      (then (global.set $bad (local.get $length)) (return (i32.const 0))))
    (global.set $remaining (i32.sub (local.get $length) (i32.const 4)))
    (i32.const 1))

  ;; Writes the CopyData payloads of the stream's bytes [0, $n) to $out, in order, and returns their
  ;; length. Stops at a message that is neither CopyData nor interspersed ($rest, $restCode) or a
  ;; malformed one ($bad). Memory must extend 16 bytes past $n and past $out + $n.
  (func (export "strip") (param $n i32) (param $out i32) (result i32)
    (local $r i32) (local $w i32) (local $take i32) (local $c i32)
    (local.set $w (local.get $out))
    (global.set $rest (i32.const -1))
    (global.set $bad (i32.const -1))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $r) (local.get $n)))
        ;; In a body: the rest of it, or of the window.
        (if (global.get $remaining)
          (then
            (local.set $take (i32.sub (local.get $n) (local.get $r)))
            (if (i32.lt_u (global.get $remaining) (local.get $take))
              (then (local.set $take (global.get $remaining))))
            (if (i32.eq (global.get $code) (i32.const 0x64))
              (then
                (call $copy (local.get $w) (local.get $r) (local.get $take))
                (local.set $w (i32.add (local.get $w) (local.get $take)))))
            (local.set $r (i32.add (local.get $r) (local.get $take)))
            (global.set $remaining (i32.sub (global.get $remaining) (local.get $take)))
            (br $next)))
        (if (i32.eqz (global.get $header))
          (then
            ;; A message begins.
            (local.set $c (i32.load8_u (local.get $r)))
            (if (i32.eqz (i32.or (i32.eq (local.get $c) (i32.const 0x64))
                                 (call $interspersed (local.get $c))))
              (then
                (global.set $rest (local.get $r))
                (global.set $restCode (local.get $c))
                (br $end)))
            (global.set $code (local.get $c))
            (if (i32.le_u (i32.add (local.get $r) (i32.const 5)) (local.get $n))
              (then
                ;; The whole header is in this window (nearly always).
                (br_if $end (i32.eqz (call $body
                  (i32.or
                    (i32.or (i32.shl (i32.load8_u offset=1 (local.get $r)) (i32.const 24))
                            (i32.shl (i32.load8_u offset=2 (local.get $r)) (i32.const 16)))
                    (i32.or (i32.shl (i32.load8_u offset=3 (local.get $r)) (i32.const 8))
                            (i32.load8_u offset=4 (local.get $r)))))))
                (local.set $r (i32.add (local.get $r) (i32.const 5)))
                (br $next)))
            (global.set $header (i32.const 1))
            (global.set $length (i32.const 0))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $next)))
        ;; A header split across windows: one length byte at a time.
        (global.set $length (i32.or (i32.shl (global.get $length) (i32.const 8))
                                    (i32.load8_u (local.get $r))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (global.set $header (i32.add (global.get $header) (i32.const 1)))
        (if (i32.eq (global.get $header) (i32.const 5))
          (then
            (global.set $header (i32.const 0))
            (br_if $end (i32.eqz (call $body (global.get $length))))))
        (br $next)))
    (i32.sub (local.get $w) (local.get $out)))
)
