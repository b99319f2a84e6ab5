;; probe: a trampoline that lets a host test call each host function with
;; arguments of its choosing.
;;
;; Each call_<name> export passes its arguments unchanged to the import
;; tokenwire.<name> and returns that import's result, so a test can call
;; the call_ exports directly and check each status. tw_on_event does
;; nothing and returns 0.
;;
;; Memory is exactly one page (minimum 1, maximum 1), so every byte at
;; offset 65536 or above is out of bounds and memory never grows.
;;
;; Fixed data, as offset and length in bytes:
;;   1024   6  stdout
;;   1040  12  no-such-sink
;;   1056  16  hello from probe
;;   1088  11  probe error
;;   2048  39  {"events":{"https://example.com/e":{}}}            valid SET claims
;;   2304 104  {"iss":"https://issuer.example.com","sub":"alice",
;;             "aud":"client-a","nonce":"n","exp":9999999999,"iat":1}
;;             ID-token-shaped claims with no events member
;;   2560   8  not json
;;   2576  13  {"events":{}}                                      empty events
;;   2624  27  {"events":{"not a uri":{}}}                        event name not a URI
;; Offsets 0-1023 and 4096-65535 are zero at instantiation and free for a
;; test to use as buffers.
(module
  (import "tokenwire" "event_read" (func $event_read (param i32 i32) (result i32)))
  (import "tokenwire" "config_read" (func $config_read (param i32 i32) (result i32)))
  (import "tokenwire" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tokenwire" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "tokenwire" "sign" (func $sign (param i32 i32) (result i32)))
  (import "tokenwire" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "tokenwire" "emit" (func $emit (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1 1)

  (data (i32.const 1024) "stdout")
  (data (i32.const 1040) "no-such-sink")
  (data (i32.const 1056) "hello from probe")
  (data (i32.const 1088) "probe error")
  (data (i32.const 2048) "{\"events\":{\"https://example.com/e\":{}}}")
  (data (i32.const 2304)
    "{\"iss\":\"https://issuer.example.com\",\"sub\":\"alice\",\"aud\":\"client-a\","
    "\"nonce\":\"n\",\"exp\":9999999999,\"iat\":1}")
  (data (i32.const 2560) "not json")
  (data (i32.const 2576) "{\"events\":{}}")
  (data (i32.const 2624) "{\"events\":{\"not a uri\":{}}}")

  (func (export "tokenwire_abi_v1"))

  (func (export "tw_on_event") (param i32) (result i32)
    (i32.const 0))

  (func (export "call_event_read") (param i32 i32) (result i32)
    (call $event_read (local.get 0) (local.get 1)))

  (func (export "call_config_read") (param i32 i32) (result i32)
    (call $config_read (local.get 0) (local.get 1)))

  (func (export "call_log") (param i32 i32 i32) (result i32)
    (call $log (local.get 0) (local.get 1) (local.get 2)))

  (func (export "call_set_error") (param i32 i32) (result i32)
    (call $set_error (local.get 0) (local.get 1)))

  (func (export "call_sign") (param i32 i32) (result i32)
    (call $sign (local.get 0) (local.get 1)))

  (func (export "call_result_read") (param i32 i32) (result i32)
    (call $result_read (local.get 0) (local.get 1)))

  (func (export "call_emit") (param i32 i32 i32 i32) (result i32)
    (call $emit (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
)
