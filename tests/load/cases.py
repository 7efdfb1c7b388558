#!/usr/bin/python3
"""Mints tokens at the test IdP and writes kzload case lines, in one process.

Usage: cases.py IDP_DIR < spec > cases

Each spec line is JSON: {"kind": "mint"|"opaque"|"raw", "req": {...} (the /test/mint or
/test/opaque body), "token": "..." (raw), "revoke": bool, "expect": "VERDICT REASON[|R]",
"user": "alice"|"-", "n": distinct tokens (default 1), "repeat": uses of each (default 1)}.
Output lines are "VERDICT REASON USER TOKEN", shuffled with a fixed seed. Tokens go to
stdout only, never to argv or a log.
"""
import json
import random
import ssl
import sys
import urllib.request

idp_dir = sys.argv[1]
url = open(idp_dir + "/url").read().strip()
ctx = ssl.create_default_context(cafile=idp_dir + "/ca.pem")


def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.load(r)


out = []
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    spec = json.loads(line)
    for _ in range(int(spec.get("n", 1))):
        kind = spec["kind"]
        if kind == "raw":
            tok = spec["token"]
        else:
            tok = post("/test/mint" if kind == "mint" else "/test/opaque",
                       spec.get("req", {}))["token"]
        if spec.get("revoke"):
            post("/test/revoke", {"token": tok})
        for _ in range(int(spec.get("repeat", 1))):
            out.append("%s %s %s" % (spec["expect"], spec.get("user", "alice"), tok))
random.Random(8).shuffle(out)
sys.stdout.write("\n".join(out) + "\n")
