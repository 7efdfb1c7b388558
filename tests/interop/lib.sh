# lib.sh — shared helpers of the interop scripts (source it; bash only).
# Secrets and tokens go to curl through stdin or process substitution (/dev/fd/N), never argv.

KZ_PY=/usr/bin/python3
KZ_REDIRECT_URI=https://host-fleet.invalid/callback

# kz_init STATEDIR: sets KZ_STATE, KZ_URL (issuer), KZ_CA
kz_init() {
    KZ_STATE=$1
    [ -s "$KZ_STATE/url" ] || { echo "${0##*/}: no provider running in $KZ_STATE (no url file)" >&2; exit 3; }
    KZ_URL=$(<"$KZ_STATE/url")
    KZ_CA=$KZ_STATE/ca.pem
}

# kz_client_id NAME -> client id and secret file of a configured client (host | svc)
kz_client() {
    case $1 in
        host|host-fleet) KZ_CLIENT_ID=host-fleet; KZ_CLIENT_SECRET_FILE=$KZ_STATE/client_secret ;;
        svc|kztoken-svc) KZ_CLIENT_ID=kztoken-svc; KZ_CLIENT_SECRET_FILE=$KZ_STATE/svc_client_secret ;;
        *) echo "${0##*/}: unknown client $1 (host | svc)" >&2; exit 2 ;;
    esac
}

# kz_curl_client ARGS… : curl with HTTP Basic client authentication (client_secret_basic)
# for the client chosen by kz_client; the secret reaches curl as a config file on a pipe.
kz_curl_client() {
    local secret
    secret=$(<"$KZ_CLIENT_SECRET_FILE")
    curl -sS --cacert "$KZ_CA" -K <(printf 'user = "%s:%s"\n' "$KZ_CLIENT_ID" "$secret") "$@"
}

# kz_json FIELD < json : print one top-level field ("" when absent)
kz_json() {
    "$KZ_PY" -c 'import json,sys
v = json.load(sys.stdin).get(sys.argv[1])
print("" if v is None else (v if isinstance(v, str) else json.dumps(v)))' "$1"
}

# kz_write_secret FILE (value on stdin): atomic replace, mode 0600
kz_write_secret() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    chmod 600 "$tmp"
    cat > "$tmp"
    mv -f "$tmp" "$1"
}

# kz_token_response JSON_FILE MODE RTFILE: print what the caller asked for and keep the
# refresh token. MODE is json (the whole answer) or at (the access token alone).
kz_token_response() {
    local resp=$1 mode=$2 rtfile=$3 at rt
    at=$(kz_json access_token < "$resp")
    if [ -z "$at" ]; then
        echo "${0##*/}: token endpoint refused: $(kz_json error < "$resp"): $(kz_json error_description < "$resp")" >&2
        return 1
    fi
    if [ -n "$rtfile" ]; then
        rt=$(kz_json refresh_token < "$resp")
        if [ -n "$rt" ]; then printf '%s\n' "$rt" | kz_write_secret "$rtfile"; fi
    fi
    if [ "$mode" = json ]; then cat "$resp"; echo; else printf '%s\n' "$at"; fi
}
