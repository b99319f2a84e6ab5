// Package intake validates token-issue events from an issuer and turns them
// into abi.Event values for listeners.
//
// # Input
//
// An event is one UTF-8 JSON object with these fields:
//
//	id         string   unique event id
//	type       string   "id_token.issued" or "access_token.issued", spelled exactly
//	time       integer  unix seconds when the token was issued, not negative
//	issuer     string
//	client_id  string
//	subject    string   optional
//	claims     object   the issued token's JWT claims set
//	context    object   optional metadata such as grant type, scope or client IP; null means absent
//	token      string   the issued token as a compact JWT, instead of claims
//
// Checks are strict. Any other field name, a field given twice, a value of
// the wrong JSON type (such as "time": "123") and an unknown event type
// reject the event with an error that names the field. Exactly one of
// claims and token must be given. Claim names must be unique at the top
// level of the claims set (RFC 7519 section 4). An event longer than
// Options.MaxEventBytes (DefaultMaxEventBytes, 256 KiB, when unset) is
// rejected with ErrTooLarge.
//
// Claims and context reach listeners with every token (string, number,
// literal) exactly as the sender wrote it, so a 20-digit integer claim keeps
// all its digits. Only whitespace between tokens is removed, so an event
// encodes to one line. The package decodes only the few claims listed below and never
// turns the claims set into Go maps or float64 values.
//
// # Token form
//
// With "token", the claims set is the JWT's payload: the base64url-decoded
// bytes as the issuer signed them, compacted like any other claims. The
// token must have three base64url segments, and its header and payload
// must be JSON objects. Encrypted JWTs (JWE) are not supported. When
// Options.TokenKeys is set, the signature must verify with the key named by
// the token's "kid" header, so an unknown kid or a bad signature rejects
// the event. A token without "kid" is accepted only when the set has
// exactly one key. When TokenKeys is nil, the signature is not checked at
// all, and an unsecured JWT (alg "none") is accepted. Expiry and other
// claims are never validated: the event reports a token just issued. The
// token itself is not kept in the event.
//
// # Derived fields
//
// A field the sender gives always wins. A field left out, or given as an
// empty string, is derived from the claims set:
//
//   - id: the "jti" claim when it is a non-empty string, otherwise a new
//     random UUID (version 4) from Options.Random. A retried request that
//     gives neither id nor jti therefore gets a new id each time, and
//     listeners cannot use it to drop the repeat.
//   - time: the "iat" claim, which must then be a non-negative integer JSON
//     number. Without "iat", the current time from Options.Now. When the
//     sender gives "time", "iat" is not looked at.
//   - issuer: the "iss" claim when it is a non-empty string, otherwise
//     Options.DefaultIssuer. When both are empty the event is rejected.
//   - client_id: the "client_id" claim, then "azp", when it is a non-empty
//     string, then "aud" when it is a string or an array of exactly one
//     string. Otherwise client_id is empty, as for a token with several
//     audiences and no client_id or azp claim.
//   - subject: the "sub" claim when it is a string, otherwise empty.
//
// # Streams
//
// Decoder reads NDJSON (one event per line) and single objects spread over
// several lines, and keeps going after a bad event. Every error it returns
// is an *Error with the event's first line.
//
// # Output
//
// Encode writes an event as the JSON object that a listener reads with
// event_read: compact JSON on one line, with claims and context copied
// byte for byte from the normalized event. Normalize accepts Encode's output and returns the
// same event.
package intake
