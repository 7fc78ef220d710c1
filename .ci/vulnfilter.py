"""Reads govulncheck's -format json stream on stdin and decides CI's verdict.

A vulnerability that stompd's code reaches in a module of go.mod fails the
run: upgrading that module is ours to do. One in the standard library is
printed as a warning with the Go release that fixes it, since the fix is a
newer Go toolchain than the machines have. Vulnerabilities in imported
packages whose vulnerable functions are never called are not reported, as
govulncheck's text mode does.
"""
import json
import sys

text = sys.stdin.read()
decoder = json.JSONDecoder()
osvs, called = {}, {}
i = 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    msg, i = decoder.raw_decode(text, i)
    if "osv" in msg:
        osvs[msg["osv"]["id"]] = msg["osv"]
    finding = msg.get("finding")
    if finding and finding.get("trace") and finding["trace"][0].get("function"):
        called[finding["osv"]] = finding

failed = False
for vid in sorted(called):
    finding, osv = called[vid], osvs.get(vid, {})
    module = finding["trace"][0].get("module", "?")
    fixed = finding.get("fixed_version", "no fix yet")
    summary = osv.get("summary", "")
    if module == "stdlib":
        print(f"warning: {vid} in the standard library, fixed in Go {fixed}: {summary}")
    else:
        print(f"FAIL: {vid} in {module}, fixed in {fixed}: {summary}")
        failed = True
print(f"{len(called)} vulnerabilities reached; {'some' if failed else 'none'} in a module go.mod can upgrade")
sys.exit(1 if failed else 0)
