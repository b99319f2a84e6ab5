;; signabuse: asks the host to sign claims that break the SET rules, signs
;; one valid SET, then calls sign 1000 more times to use up the per-event
;; sign budget. It emits a report of the statuses to "stdout" on every event.
;;
;; Claims sets, as offset and length, in the order they are signed:
;;   0  1024 104  {"iss":"https://issuer.example.com","sub":"alice","aud":"client-a",
;;                 "nonce":"n","exp":9999999999,"iat":1}    ID-token shape, no events
;;   1  1152  76  {"iss":"https://attacker.example.net","events":{...valid...}}   iss set by the guest
;;   2  1280  56  {"exp":9999999999,"events":{...valid...}}                        exp
;;   3  1408  13  {"events":{}}                                                    empty events
;;   4  1536  62  {"nonce":"n-0S6_WzA2Mj","events":{...valid...}}                  nonce
;;   5  1664   8  not json
;;   6  1792  27  {"events":{"not a uri":{}}}                                      event name not a URI
;;   7  1920  39  {"events":{"https://example.com/e":{}}}                          valid
;; where {...valid...} is {"https://example.com/e":{}}.
;;
;; Report: 14 little-endian i32 entries, 56 bytes, emitted to "stdout":
;;   0-7  status of sign on claims set 0-7
;;   8    result_read(4096, 61440) right after claims set 7 is signed: the
;;        total length of the current result
;;   9    number of the 1000 loop calls, each signing claims set 7, that
;;        returned a length > 0
;;   10   number of loop calls that returned -6 (LIMIT_EXCEEDED)
;;   11   number of loop calls that returned anything else
;;   12   0-based index of the first loop call that did not return a
;;        length > 0, or -1 if every call succeeded
;;   13   status of that call, or 0 if every call succeeded
;; Entries 9, 10 and 11 always sum to 1000.
;;
;; With the signing capability granted, a correct host returns -2
;; (INVALID_ARGUMENT) in entries 0-6, a JWS length > 0 in entry 7 and the
;; same length in entry 8. When the per-event sign budget ends inside the
;; loop, entry 11 is 0, entry 12 equals entry 9 because every success comes
;; before the first rejected call, and entry 13 is -6 (LIMIT_EXCEEDED). Without
;; the capability, sign returns -3 (NOT_PERMITTED).
;;
;; tw_on_event returns 0 after the report is emitted and 1 if that emit fails.
(module
  (import "tokenwire" "sign" (func $sign (param i32 i32) (result i32)))
  (import "tokenwire" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 0) "stdout") ;; 6 bytes
  ;; Offset 256: the report, 56 bytes. Offset 4096: result_read buffer.
  (data (i32.const 1024)
    "{\"iss\":\"https://issuer.example.com\",\"sub\":\"alice\",\"aud\":\"client-a\","
    "\"nonce\":\"n\",\"exp\":9999999999,\"iat\":1}")
  (data (i32.const 1152)
    "{\"iss\":\"https://attacker.example.net\",\"events\":{\"https://example.com/e\":{}}}")
  (data (i32.const 1280) "{\"exp\":9999999999,\"events\":{\"https://example.com/e\":{}}}")
  (data (i32.const 1408) "{\"events\":{}}")
  (data (i32.const 1536) "{\"nonce\":\"n-0S6_WzA2Mj\",\"events\":{\"https://example.com/e\":{}}}")
  (data (i32.const 1664) "not json")
  (data (i32.const 1792) "{\"events\":{\"not a uri\":{}}}")
  (data (i32.const 1920) "{\"events\":{\"https://example.com/e\":{}}}")

  (func $record (param $entry i32) (param $value i32)
    (i32.store
      (i32.add (i32.const 256) (i32.shl (local.get $entry) (i32.const 2)))
      (local.get $value)))

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (local $i i32)
    (local $status i32)
    (local $successes i32)
    (local $limited i32)
    (local $other i32)
    (local $first_failure i32)
    (local $first_failure_status i32)

    (call $record (i32.const 0) (call $sign (i32.const 1024) (i32.const 104)))
    (call $record (i32.const 1) (call $sign (i32.const 1152) (i32.const 76)))
    (call $record (i32.const 2) (call $sign (i32.const 1280) (i32.const 56)))
    (call $record (i32.const 3) (call $sign (i32.const 1408) (i32.const 13)))
    (call $record (i32.const 4) (call $sign (i32.const 1536) (i32.const 62)))
    (call $record (i32.const 5) (call $sign (i32.const 1664) (i32.const 8)))
    (call $record (i32.const 6) (call $sign (i32.const 1792) (i32.const 27)))
    (call $record (i32.const 7) (call $sign (i32.const 1920) (i32.const 39)))
    (call $record (i32.const 8) (call $result_read (i32.const 4096) (i32.const 61440)))

    (local.set $first_failure (i32.const -1))
    (loop $again
      (local.set $status (call $sign (i32.const 1920) (i32.const 39)))
      (if (i32.gt_s (local.get $status) (i32.const 0))
        (then (local.set $successes (i32.add (local.get $successes) (i32.const 1))))
        (else
          (if (i32.eq (local.get $status) (i32.const -6))
            (then (local.set $limited (i32.add (local.get $limited) (i32.const 1))))
            (else (local.set $other (i32.add (local.get $other) (i32.const 1)))))
          (if (i32.eq (local.get $first_failure) (i32.const -1))
            (then
              (local.set $first_failure (local.get $i))
              (local.set $first_failure_status (local.get $status))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))

    (call $record (i32.const 9) (local.get $successes))
    (call $record (i32.const 10) (local.get $limited))
    (call $record (i32.const 11) (local.get $other))
    (call $record (i32.const 12) (local.get $first_failure))
    (call $record (i32.const 13) (local.get $first_failure_status))

    (if (i32.lt_s
          (call $emit (i32.const 0) (i32.const 6) (i32.const 256) (i32.const 56))
          (i32.const 0))
      (then (return (i32.const 1))))
    (i32.const 0))
)
