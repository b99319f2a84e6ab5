;; audit: the SET audit listener written by hand in WebAssembly text.
;;
;; It emits, for every event, the same Security Event Token as the Go,
;; C, Rust and AssemblyScript builds of audit with the default config:
;; txn, sub_id (iss_sub, or opaque with the client id when the token has
;; no subject) and the token-issued event, signed by the host and emitted
;; to the sink "stdout". It reads no config: tw_init fails unless the
;; config is {}, so a config meant for the other builds (a sink or an
;; audience) is rejected instead of ignored.
;;
;; It does not parse JSON in general. It relies on the member order the
;; host guarantees (abi/SPEC.md, "The event": id, type, time, issuer,
;; client_id, then subject when present) and copies the string members
;; into the claims without unescaping them: the host wrote them as valid
;; JSON strings, so they stay valid and mean the same.
;;
;; Build: wat2wasm audit.wat -o audit.wasm
;;
;; Memory: constants below 1024; the event at 64 KiB; the claims after the
;; event; the signed SET after the claims. Memory grows as events need.
;; NOTE: the code refers to each constant by its offset and length, written
;; out as numbers (see the comment above each data segment), so a changed
;; text must keep its length or every later offset must change with it.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "config_read" (func $config_read (param i32 i32) (result i32)))
  (import "tokenwire" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "tokenwire" "sign" (func $sign (param i32 i32) (result i32)))
  (import "tokenwire" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; k_id at 64, 6 bytes
  (data (i32.const 64) "{\22id\22:")
  ;; k_type at 70, 8 bytes
  (data (i32.const 70) ",\22type\22:")
  ;; k_time at 78, 8 bytes
  (data (i32.const 78) ",\22time\22:")
  ;; k_issuer at 86, 10 bytes
  (data (i32.const 86) ",\22issuer\22:")
  ;; k_client at 96, 13 bytes
  (data (i32.const 96) ",\22client_id\22:")
  ;; k_subject at 109, 11 bytes
  (data (i32.const 109) ",\22subject\22:")
  ;; t_id at 120, 17 bytes
  (data (i32.const 120) "\22id_token.issued\22")
  ;; t_access at 137, 21 bytes
  (data (i32.const 137) "\22access_token.issued\22")
  ;; o_txn at 158, 7 bytes
  (data (i32.const 158) "{\22txn\22:")
  ;; o_iss_sub at 165, 36 bytes
  (data (i32.const 165) ",\22sub_id\22:{\22format\22:\22iss_sub\22,\22iss\22:")
  ;; o_sub at 201, 7 bytes
  (data (i32.const 201) ",\22sub\22:")
  ;; o_opaque at 208, 34 bytes
  (data (i32.const 208) ",\22sub_id\22:{\22format\22:\22opaque\22,\22id\22:")
  ;; o_events at 242, 72 bytes
  (data (i32.const 242) "},\22events\22:{\22https://tokenwire.dev/secevent/token-issued\22:{\22token_type\22:")
  ;; o_id_token at 314, 10 bytes
  (data (i32.const 314) "\22id_token\22")
  ;; o_access_token at 324, 14 bytes
  (data (i32.const 324) "\22access_token\22")
  ;; o_client at 338, 13 bytes
  (data (i32.const 338) ",\22client_id\22:")
  ;; o_issued_at at 351, 13 bytes
  (data (i32.const 351) ",\22issued_at\22:")
  ;; o_event_id at 364, 12 bytes
  (data (i32.const 364) ",\22event_id\22:")
  ;; o_end at 376, 3 bytes
  (data (i32.const 376) "}}}")
  ;; sink at 379, 6 bytes
  (data (i32.const 379) "stdout")
  ;; e_config at 385, 94 bytes
  (data (i32.const 385) "audit: invalid config: the WAT build of audit reads no config: give it {} or use another build")
  ;; e_event at 479, 123 bytes
  (data (i32.const 479) "audit: invalid event: the WAT build expects the members id, type, time, issuer, client_id in the order the host writes them")
  ;; e_type at 602, 36 bytes
  (data (i32.const 602) "audit: event has an unsupported type")
  ;; e_sign at 638, 62 bytes
  (data (i32.const 638) "audit: sign SET: the host rejected claims or could not sign it")
  ;; e_emit at 700, 39 bytes
  (data (i32.const 700) "audit: emit SET to sink \22stdout\22 failed")
  ;; e_read at 739, 49 bytes
  (data (i32.const 739) "audit: reading the event or the signed SET failed")

  (global $event i32 (i32.const 65536))
  ;; $end is the end of the event being parsed; $out the write position.
  (global $end (mut i32) (i32.const 0))
  (global $out (mut i32) (i32.const 0))

  (func (export "tokenwire_abi_v1"))

  ;; fail records a message and returns 1, the failure code.
  (func $fail (param $ptr i32) (param $len i32) (result i32)
    (drop (call $set_error (local.get $ptr) (local.get $len)))
    (i32.const 1))

  ;; ensure grows memory so that addresses below $limit exist; 0 if it cannot.
  (func $ensure (param $limit i32) (result i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.le_u (local.get $limit) (local.get $have)) (then (return (i32.const 1))))
    (i32.ne
      (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $limit) (local.get $have)) (i32.const 65535)) (i32.const 16)))
      (i32.const -1)))

  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next))))

  ;; put appends len bytes at ptr to the output.
  (func $put (param $ptr i32) (param $len i32)
    (call $copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; equal reports whether the len bytes at a and b are the same.
  (func $equal (param $a i32) (param $b i32) (param $len i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; expect returns the position after the literal at $lit when the event
  ;; has it at $pos, else -1.
  (func $expect (param $pos i32) (param $lit i32) (param $len i32) (result i32)
    (if (i32.lt_s (local.get $pos) (i32.const 0)) (then (return (i32.const -1))))
    (if (i32.gt_u (i32.add (local.get $pos) (local.get $len)) (global.get $end))
      (then (return (i32.const -1))))
    (if (result i32) (call $equal (local.get $pos) (local.get $lit) (local.get $len))
      (then (i32.add (local.get $pos) (local.get $len)))
      (else (i32.const -1))))

  ;; string returns the position after the JSON string that starts at $pos,
  ;; or -1.
  (func $string (param $pos i32) (result i32)
    (local $c i32)
    (if (i32.lt_s (local.get $pos) (i32.const 0)) (then (return (i32.const -1))))
    (if (i32.ge_u (local.get $pos) (global.get $end)) (then (return (i32.const -1))))
    (if (i32.ne (i32.load8_u (local.get $pos)) (i32.const 34)) (then (return (i32.const -1))))
    (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
    (loop $next
      (if (i32.ge_u (local.get $pos) (global.get $end)) (then (return (i32.const -1))))
      (local.set $c (i32.load8_u (local.get $pos)))
      (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
      (if (i32.eq (local.get $c) (i32.const 92))
        (then (local.set $pos (i32.add (local.get $pos) (i32.const 1))) (br $next)))
      (br_if $next (i32.ne (local.get $c) (i32.const 34))))
    (local.get $pos))

  ;; digits returns the position after the digits at $pos, or -1 if none.
  (func $digits (param $pos i32) (result i32)
    (local $start i32)
    (if (i32.lt_s (local.get $pos) (i32.const 0)) (then (return (i32.const -1))))
    (local.set $start (local.get $pos))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $pos) (global.get $end)))
        (br_if $done (i32.gt_u (i32.sub (i32.load8_u (local.get $pos)) (i32.const 48)) (i32.const 9)))
        (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
        (br $next)))
    (if (result i32) (i32.eq (local.get $pos) (local.get $start))
      (then (i32.const -1))
      (else (local.get $pos))))

  (func (export "tw_init") (param $len i32) (result i32)
    ;; Only {} is accepted: two bytes, read to the start of the event area.
    (if (i32.ne (local.get $len) (i32.const 2))
      (then (return (call $fail (i32.const 385) (i32.const 94)))))
    (drop (call $config_read (global.get $event) (i32.const 2)))
    (if (i32.ne (i32.load16_u (global.get $event)) (i32.const 0x7d7b))
      (then (return (call $fail (i32.const 385) (i32.const 94)))))
    (i32.const 0))

  (func (export "tw_on_event") (param $len i32) (result i32)
    (local $pos i32)
    (local $id i32) (local $id_end i32)
    (local $type i32) (local $type_end i32)
    (local $time i32) (local $time_end i32)
    (local $iss i32) (local $iss_end i32)
    (local $cid i32) (local $cid_end i32)
    (local $sub i32) (local $sub_end i32)
    (local $access i32)
    (local $claims i32) (local $n i32) (local $token i32)

    ;; The claims are at most the event plus the fixed text, twice over
    ;; for the repeated id and client id.
    (if (i32.eqz (call $ensure (i32.add (global.get $event) (i32.add (i32.mul (local.get $len) (i32.const 3)) (i32.const 1024)))))
      (then (return (call $fail (i32.const 739) (i32.const 49)))))
    (if (i32.ne (call $event_read (global.get $event) (local.get $len)) (local.get $len))
      (then (return (call $fail (i32.const 739) (i32.const 49)))))
    (global.set $end (i32.add (global.get $event) (local.get $len)))

    (local.set $id (call $expect (global.get $event) (i32.const 64) (i32.const 6)))
    (local.set $id_end (call $string (local.get $id)))
    (local.set $type (call $expect (local.get $id_end) (i32.const 70) (i32.const 8)))
    (local.set $type_end (call $string (local.get $type)))
    (local.set $time (call $expect (local.get $type_end) (i32.const 78) (i32.const 8)))
    (local.set $time_end (call $digits (local.get $time)))
    (local.set $iss (call $expect (local.get $time_end) (i32.const 86) (i32.const 10)))
    (local.set $iss_end (call $string (local.get $iss)))
    (local.set $cid (call $expect (local.get $iss_end) (i32.const 96) (i32.const 13)))
    (local.set $cid_end (call $string (local.get $cid)))
    (if (i32.lt_s (local.get $cid_end) (i32.const 0))
      (then (return (call $fail (i32.const 479) (i32.const 123)))))
    (local.set $sub (call $expect (local.get $cid_end) (i32.const 109) (i32.const 11)))
    (local.set $sub_end (call $string (local.get $sub)))

    ;; The token type.
    (local.set $n (i32.sub (local.get $type_end) (local.get $type)))
    (if (i32.and (i32.eq (local.get $n) (i32.const 17))
                 (call $equal (local.get $type) (i32.const 120) (i32.const 17)))
      (then (local.set $access (i32.const 0)))
      (else
        (if (i32.and (i32.eq (local.get $n) (i32.const 21))
                     (call $equal (local.get $type) (i32.const 137) (i32.const 21)))
          (then (local.set $access (i32.const 1)))
          (else (return (call $fail (i32.const 602) (i32.const 36)))))))

    ;; The claims, after the event.
    (local.set $claims (global.get $end))
    (global.set $out (local.get $claims))
    (call $put (i32.const 158) (i32.const 7))
    (call $put (local.get $id) (i32.sub (local.get $id_end) (local.get $id)))
    (if (i32.ge_s (local.get $sub_end) (i32.const 0))
      (then
        (call $put (i32.const 165) (i32.const 36))
        (call $put (local.get $iss) (i32.sub (local.get $iss_end) (local.get $iss)))
        (call $put (i32.const 201) (i32.const 7))
        (call $put (local.get $sub) (i32.sub (local.get $sub_end) (local.get $sub))))
      (else
        (call $put (i32.const 208) (i32.const 34))
        (call $put (local.get $cid) (i32.sub (local.get $cid_end) (local.get $cid)))))
    (call $put (i32.const 242) (i32.const 72))
    (if (local.get $access)
      (then (call $put (i32.const 324) (i32.const 14)))
      (else (call $put (i32.const 314) (i32.const 10))))
    (call $put (i32.const 338) (i32.const 13))
    (call $put (local.get $cid) (i32.sub (local.get $cid_end) (local.get $cid)))
    (call $put (i32.const 351) (i32.const 13))
    (call $put (local.get $time) (i32.sub (local.get $time_end) (local.get $time)))
    (call $put (i32.const 364) (i32.const 12))
    (call $put (local.get $id) (i32.sub (local.get $id_end) (local.get $id)))
    (call $put (i32.const 376) (i32.const 3))

    ;; Sign, read the SET after the claims, emit it.
    (local.set $n (call $sign (local.get $claims) (i32.sub (global.get $out) (local.get $claims))))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $fail (i32.const 638) (i32.const 62)))))
    (local.set $token (global.get $out))
    (if (i32.eqz (call $ensure (i32.add (local.get $token) (local.get $n))))
      (then (return (call $fail (i32.const 739) (i32.const 49)))))
    (if (i32.ne (call $result_read (local.get $token) (local.get $n)) (local.get $n))
      (then (return (call $fail (i32.const 739) (i32.const 49)))))
    (if (i32.lt_s (call $emit (i32.const 379) (i32.const 6) (local.get $token) (local.get $n)) (i32.const 0))
      (then (return (call $fail (i32.const 700) (i32.const 39)))))
    (i32.const 0))
)
