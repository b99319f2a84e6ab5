# Writes edge.ndjson, the edge-case event corpus of the conformance tests.
# Run from this directory: python3 gen_edge.py
import json

def nest(depth):
    opens, closes = "", ""
    for i in range(depth):
        if i % 2:
            opens, closes = "[" + opens, closes + "]"
        else:
            opens, closes = '{"d":' + opens, closes + "}"
    return opens + '"bottom"' + closes

lines = []

def add(raw):
    lines.append(raw)

# Unicode in the top-level fields and in claim names and values, written
# both raw and as escapes (a surrogate pair, an unpaired surrogate).
add(r'{"id":"edge-unicode","type":"id_token.issued","time":1700000000,"issuer":"https://op.example.com/ünï","client_id":"app-日本","subject":"José 🙂","claims":{"sub":"José 🙂","名前":"山田 太郎","a\u0062":"escaped-key","emoji":"\ud83d\ude00","lone":"\ud800","html":"<b>&amp;</b>","ls":"line\u2028sep","ctl":"tab\there\u0001\n","quote":"say \"hi\" \\ /","iat":1700000000}}')
# Big and odd numbers, kept digit for digit.
add('{"id":"edge-numbers","type":"access_token.issued","time":0,"issuer":"https://bank.example.com","client_id":"ledger","subject":"grace","claims":{"sub":"grace","iat":0,"account_number":98765432109876543210,"overdraft_limit":-12345678901234567890,"ratio":6.02214076e+23,"tiny":1E-400,"huge":1e400,"exact":1.000000000000000000001,"zero":-0,"big_array":[18446744073709551616,-9223372036854775809,0.1]}}')
# Deep nesting: 4,000 levels of alternating objects and arrays.
add('{"id":"edge-deep","type":"id_token.issued","time":1700000001,"issuer":"https://op.example.com","client_id":"deep","subject":"deep-user","claims":{"sub":"deep-user","nested":' + nest(4000) + ',"iat":1700000001}}')
# A large array: 20,000 integers and strings.
add(json.dumps({"id": "edge-array", "type": "access_token.issued", "time": 1700000002,
                "issuer": "https://op.example.com", "client_id": "bulk",
                "claims": {"sub": "bulk-user", "big_array": [i * 7919 for i in range(15000)] + ["s%d" % i for i in range(5000)], "iat": 1700000002}},
               separators=(",", ":")))
# Missing optional fields: no subject, no context, no client_id (two audiences).
add('{"id":"edge-no-subject","type":"access_token.issued","time":1700000003,"issuer":"https://op.example.com","client_id":"svc","claims":{"client_id":"svc","scope":"read write","iat":1700000003}}')
add('{"type":"access_token.issued","claims":{"jti":"edge-no-client","iss":"https://op.example.com","aud":["a","b"],"iat":1700000004,"scope":""}}')
add('{"type":"id_token.issued","claims":{"jti":"edge-empty-claims-derived","iss":"https://op.example.com","aud":"only","iat":1700000005}}')
# Escapes in the event's own fields.
add(r'{"id":"edge-\"quoted\"\\id\/x","type":"id_token.issued","time":1700000006,"issuer":"https:\/\/op.example.com","client_id":"c<&>","subject":"line\nbreak\u0000nul","claims":{"sub":"line\nbreak\u0000nul","iat":1700000006,"address":{"formatted":"1 Main St.\nTown","country":"US"},"amr":["pwd","otp"],"email_verified":true,"middle_name":null}}')
# Context present, with nested values, and claims with values of every type.
add('{"id":"edge-context","type":"id_token.issued","time":9223372036,"issuer":"https://op.example.com","client_id":"ctx","subject":"s","claims":{"sub":"s","iat":9223372036,"null":null,"t":true,"f":false,"obj":{},"arr":[],"str":""},"context":{"grant_type":"authorization_code","scope":"openid","ip":"2001:db8::1","extra":{"k":[1,2,{"z":null}]}}}')

with open("edge.ndjson", "w", encoding="utf-8") as f:
    for line in lines:
        f.write(line + "\n")
