#!/bin/bash
# jwt-decode.sh < token — print a JWT's header and payload as JSON (no verification).
# Reads the token on stdin (never argv). Prints {"header": {…}, "payload": {…}}.
exec /usr/bin/python3 -c '
import base64, json, sys
tok = sys.stdin.read().strip()
parts = tok.split(".")
if len(parts) != 3:
    sys.exit("jwt-decode.sh: not a JWS compact token")
dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
print(json.dumps({"header": dec(parts[0]), "payload": dec(parts[1])}, indent=1, sort_keys=True))
'
