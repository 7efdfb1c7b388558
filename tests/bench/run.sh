#!/bin/bash
# tests/bench/run.sh - `make bench`: measures libkzauth against the
# physical limit and the targets of DESIGN.md section 12, side by side on
# this machine, and prints one table.  Not part of `make check`.
#
#   tests/bench/run.sh [SECONDS]     (per rate measurement; default 3)
#
# It starts its own test identity provider in a private temp dir, mints
# RS256 and ES256 tokens, and builds the bench programs with the project's
# flags against build/libkzauth_internal.a.  KZ_BENCH_OUT=FILE also writes
# the table there (docs/performance.md quotes it).
set -u
secs=${1:-3}
KZ_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$KZ_ROOT/build
cd "$KZ_ROOT" || exit 1

need() {	# need COMMAND-OR-FILE PACKAGE
	if [ ! -e "$1" ] && ! command -v "$1" >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ]; then
			echo "bench: installing $2" >&2
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; } || exit 1
		else
			echo "bench: missing $1 (apt-get install $2)" >&2; exit 1
		fi
	fi
}
need pamtester pamtester
need /usr/include/jwt.h libjwt-dev
need /usr/lib/x86_64-linux-gnu/libpam_wrapper.so libpam-wrapper
need /usr/include/security/pam_appl.h libpam0g-dev
need openssl openssl

# relative to KZ_ROOT (we cd there): make knows build/..., not /abs/build/...
make -s all build/libkzauth_internal.a || exit 1

work=$(mktemp -d /tmp/kztoken-bench.XXXXXX)
chmod 755 "$work"
idpdir=$work/idp
cleanup() {
	bash "$KZ_ROOT/tests/idp/stop.sh" "$idpdir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
url=$(bash "$KZ_ROOT/tests/idp/start.sh" "$idpdir") || exit 1
idp() { "$KZ_ROOT/tests/idp/idpctl" "$idpdir" "$@"; }

# The project's compiler flags (Makefile ALLCFLAGS, without -fPIC).
CFL="-std=c11 -O2 -g -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -Wshadow \
 -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
 -fstack-protector-strong -D_GNU_SOURCE -Ilibkzauth"
cc $CFL -o "$work/bench_core" tests/bench/bench_core.c "$B/libkzauth_internal.a" \
	-ljwt -ljansson -lcrypto -linih || exit 1
cc $CFL -o "$work/bench_mem" tests/bench/bench_mem.c -ldl || exit 1
cc $CFL -o "$work/bench_pam" tests/bench/bench_pam.c -lpam || exit 1
cc $CFL -o "$work/bench_spawn" tests/bench/bench_spawn.c || exit 1
cc $CFL -shared -fPIC -Wl,-z,now -o "$work/ossl_ready.so" tests/bench/ossl_ready.c \
	-Wl,--no-as-needed -lcrypto -Wl,--as-needed -lpam || exit 1
# the same, also loading the other libraries pam_kztoken needs: splits the
# module's own cost into loading them and what libkzauth does
cc $CFL -shared -fPIC -Wl,-z,now -o "$work/ossl_deps.so" tests/bench/ossl_ready.c \
	-Wl,--no-as-needed -lcrypto -ljansson -linih -Wl,--as-needed -lpam || exit 1

# Tokens: valid for an hour, for alice, audience host-fleet.
idp mint '{"alg":"RS256","expires_in":3600}' > "$work/rs256" || exit 1
idp mint '{"alg":"ES256","expires_in":3600}' > "$work/es256" || exit 1
# PS256 (RSA-PSS, key ps1) and EdDSA (Ed25519, key ed1): the IdP publishes
# those keys (and rewrites jwks.json) on the first mint
idp mint '{"alg":"PS256","expires_in":3600}' > "$work/ps256" || exit 1
idp mint '{"alg":"EdDSA","expires_in":3600}' > "$work/eddsa" || exit 1
idp opaque '{"expires_in":3600}' > "$work/opaque" || exit 1
: > "$work/opaque_cold"
for _ in $(seq 101); do idp opaque '{"expires_in":3600}' >> "$work/opaque_cold"; echo >> "$work/opaque_cold"; done
: > "$work/mix"
for _ in $(seq 20); do
	idp opaque '{"expires_in":3600}' >> "$work/mix"; echo >> "$work/mix"
	idp mint '{"expires_in":3600}' >> "$work/mix"; echo >> "$work/mix"
done

conf() {	# conf NAME [extra provider lines...]
	local d=$work/$1
	mkdir -p "$d/cache" "$d/store"
	chmod 700 "$d/cache" "$d/store"
	{
		printf '[kztoken]\ntimeout = 5\nleeway = 30\ncache_dir = %s\nstore_dir = %s\ndenylist_file = %s\n' \
			"$d/cache" "$d/store" "$d/denylist"
		printf '\n[provider idp]\nissuer = %s\naudience = host-fleet\nclient_id = host-fleet\n' "$url"
		printf 'client_secret_file = %s\nca_file = %s\n' "$idpdir/client_secret" "$idpdir/ca.pem"
		shift
		printf '%s\n' "$@"
	} > "$d/kz.conf"
	chmod 600 "$d/kz.conf"
	echo "$d/kz.conf"
}
pinned=$(conf pinned "jwks_file = $idpdir/jwks.json")
modern=$(conf modern "jwks_file = $idpdir/jwks.json" "algorithms = PS256, EdDSA")
online=$(conf online "jwks_url = $url/jwks" "introspection_url = $url/introspect")
cold=$(conf cold "introspection_url = $url/introspect")
cache_on=$(conf cache_on "jwks_url = $url/jwks" "introspection_url = $url/introspect")
cache_off=$(conf cache_off "jwks_url = $url/jwks" "introspection_url = $url/introspect")
sed -i 's/^timeout = 5$/timeout = 5\ncache_ttl = 0\nnegative_cache_ttl = 0/' "$cache_off"

# key=value lines of a bench program into shell variables PREFIX_key.
get() {	# get PREFIX command...
	local pfx=$1 out
	shift
	out=$("$@") || { echo "bench: $* failed" >&2; exit 1; }
	while read -r k v; do printf -v "${pfx}_$k" '%s' "$v"; done <<<"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
fail=0
target() {	# target OK-EXPRESSION TEXT (runs in $(...): leaves a mark file)
	if awk "BEGIN { exit !($1) }"; then echo "met ($2)"; else echo "MISSED ($2)"; echo x >> "$work/missed"; fi
}

# kz_decide against `openssl speed`: both count operations per CPU second
# (openssl speed divides by its user time), and they are measured in turns,
# best of $rounds rounds each: on a shared machine a slow round is a
# neighbour's work, and taking turns lets both sides see the same machine.
rounds=${KZ_BENCH_ROUNDS:-5}
keep_best() {	# keep_best PREFIX: PREFIX_best_* = this round's PREFIX_* if faster
	local pfx=$1 rate best
	rate=${pfx}_rate best=${pfx}_best_rate
	if awk -v a="${!rate}" -v b="${!best:-0}" 'BEGIN { exit !(a > b) }'; then
		printf -v "${pfx}_best_rate" '%s' "${!rate}"
		rate=${pfx}_p50_us; printf -v "${pfx}_best_p50_us" '%s' "${!rate}"
		rate=${pfx}_p99_us; printf -v "${pfx}_best_p99_us" '%s' "${!rate}"
		rate=${pfx}_jwt_only_rate; printf -v "${pfx}_best_jwt_only_rate" '%s' "${!rate}"
	fi
}
max() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { printf "%.0f", (a > b ? a : b) }'; }
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rs_ratios="" es_ratios="" ps_ratios="" ed_ratios=""
echo "bench: openssl speed and kz_decide, $rounds rounds in turns (about $((rounds * 9)) s)..." >&2
for _ in $(seq "$rounds"); do
	sp=$(openssl speed -seconds 1 rsa2048 ecdsap256 ed25519 2>/dev/null)
	sp_rsa=$(awk '/^rsa 2048 bits/ { v = $NF } END { print v + 0 }' <<<"$sp")
	sp_ec=$(awk '/256 bits ecdsa \(nistp256\)/ { v = $NF } END { print v + 0 }' <<<"$sp")
	sp_ed=$(awk '/253 bits EdDSA \(Ed25519\)/ { v = $NF } END { print v + 0 }' <<<"$sp")
	ossl_rsa=$(max "$sp_rsa" "${ossl_rsa:-0}")
	ossl_ec=$(max "$sp_ec" "${ossl_ec:-0}")
	ossl_ed=$(max "$sp_ed" "${ossl_ed:-0}")
	for a in rs es ps ed; do
		case $a in rs) t=rs256 c=$pinned ;; es) t=es256 c=$pinned ;;
		ps) t=ps256 c=$modern ;; ed) t=eddsa c=$modern ;; esac
		get "kz$a" "$work/bench_core" decide "$c" "$work/$t" 1
		keep_best "kz$a"
	done
	# this round's ratios: kz_decide and openssl speed of the same minute
	rs_ratios+=" $(ratio3 "$kzrs_rate" "$sp_rsa")"
	es_ratios+=" $(ratio3 "$kzes_rate" "$sp_ec")"
	ps_ratios+=" $(ratio3 "$kzps_rate" "$sp_rsa")"
	ed_ratios+=" $(ratio3 "$kzed_rate" "$sp_ed")"
done
rs_ratio=$(median "$rs_ratios") es_ratio=$(median "$es_ratios")
for a in rs es ps ed; do
	for k in rate p50_us p99_us jwt_only_rate; do
		v=kz${a}_best_$k; printf -v "kz${a}_$k" '%s' "${!v}"
	done
done

echo "bench: raw verify, libjwt..." >&2
get rawrs "$work/bench_core" verify "$idpdir/jwks.json" "$work/rs256" "$secs"
get rawes "$work/bench_core" verify "$idpdir/jwks.json" "$work/es256" "$secs"
get ljrs "$work/bench_core" libjwt "$idpdir/jwks.json" "$work/rs256" "$secs"
get ljes "$work/bench_core" libjwt "$idpdir/jwks.json" "$work/es256" "$secs"
get rawps "$work/bench_core" verify "$idpdir/jwks.json" "$work/ps256" "$secs"
get rawed "$work/bench_core" verify "$idpdir/jwks.json" "$work/eddsa" "$secs"
# the same with keys from the warmed on-disk JWKS cache (jwks_url)
get kzon "$work/bench_core" decide "$online" "$work/rs256" "$secs"

echo "bench: opaque tokens..." >&2
get op "$work/bench_core" cached "$online" "$work/opaque" "$secs"
get cold "$work/bench_core" cold "$cold" "$work/opaque_cold"

echo "bench: PAM..." >&2
pamd=$work/pam.d
mkdir -p "$pamd"
for s in kzjwt kzonline; do
	c=$pinned; [ $s = kzonline ] && c=$online
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$B/pam_kztoken.so" "$c" "$B/pam_kztoken.so" "$c" > "$pamd/$s"
done
printf 'auth required pam_permit.so\naccount required pam_permit.so\n' > "$pamd/kzbase"
for m in ready:"" prompt:prompt linked:linked; do
	printf 'auth required %s %s\nauth required pam_permit.so\naccount required pam_permit.so\n' \
		"$work/ossl_ready.so" "${m#*:}" > "$pamd/kz${m%%:*}"
done
printf 'auth required %s prompt\nauth required pam_permit.so\naccount required pam_permit.so\n' \
	"$work/ossl_deps.so" > "$pamd/kzdeps"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' > "$pamd/other"
pw() { env LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$pamd" "$@"; }
get pam pw "$work/bench_pam" kzjwt alice "$work/rs256" 2000
get pamon pw "$work/bench_pam" kzonline alice "$work/rs256" 2000
# Fresh processes, one run of each per round (bench_spawn.c says why).
# The references: "ready" loads and initialises OpenSSL as a verifying
# login needs it, "prompt" also asks for the token as pam_kztoken does,
# "linked" only loads libcrypto; sshd links libcrypto itself, hence the
# rows with it preloaded.
pt() {	# pt LABEL STDIN PRELOAD SERVICE: one command of bench_spawn
	printf '%s\n' "$1" "$2" "LD_PRELOAD=$3" PAM_WRAPPER=1 \
		"PAM_WRAPPER_SERVICE_DIR=$pamd" pamtester "$4" alice authenticate acct_mgmt ::
}
pwc="libpam_wrapper.so libcrypto.so.3"
mapfile -t spawn_args < <(
	pt base /dev/null libpam_wrapper.so kzbase
	pt linked /dev/null libpam_wrapper.so kzlinked
	pt ready /dev/null libpam_wrapper.so kzready
	pt prompt "$work/rs256" libpam_wrapper.so kzprompt
	pt deps "$work/rs256" libpam_wrapper.so kzdeps
	pt ptj "$work/rs256" libpam_wrapper.so kzonline
	pt basec /dev/null "$pwc" kzbase
	pt ptjc "$work/rs256" "$pwc" kzonline
	pt pto "$work/opaque" libpam_wrapper.so kzonline)
get sp "$work/bench_spawn" 200 "${spawn_args[@]}"
own_ms=$(awk -v a="$sp_ptj_p50_ms" -v b="$sp_prompt_p50_ms" 'BEGIN { printf "%.2f", a - b }')
deps_ms=$(awk -v a="$sp_deps_p50_ms" -v b="$sp_prompt_p50_ms" 'BEGIN { printf "%.2f", a - b }')
work_ms=$(awk -v a="$sp_ptj_p50_ms" -v b="$sp_deps_p50_ms" 'BEGIN { printf "%.2f", a - b }')
conv_ms=$(awk -v a="$sp_prompt_p50_ms" -v b="$sp_ready_p50_ms" 'BEGIN { printf "%.2f", a - b }')
floor_ms=$(awk -v a="$sp_linked_p50_ms" -v c="$conv_ms" 'BEGIN { printf "%.2f", a + c }')
# Does a JWT login load libcurl?  (It must not.)
curl_loaded=$(pw env LD_DEBUG=files pamtester kzonline alice authenticate acct_mgmt \
	< "$work/rs256" 2>&1 >/dev/null | grep -c 'file=libcurl.so.4 \[0\];  needed\|file=libcurl.so.4 \[0\];  dynamically loaded')

echo "bench: concurrency..." >&2
conc_rows=""
for n in 1 2 4 8 16; do
	get cc "$work/bench_core" conc "$pinned" "$work/rs256" "$secs" "$n"
	conc_rows+=$(printf '| %2d | %8s | %5s | %6s |' "$n" "$cc_rate" "$cc_p50_us" "$cc_p99_us")$'\n'
done

echo "bench: provider load..." >&2
idp POST /test/stats/reset >/dev/null
get lon "$work/bench_core" logins "$cache_on" "$work/mix" 1000
st_on=$(idp GET /test/stats)
idp POST /test/stats/reset >/dev/null
get loff "$work/bench_core" logins "$cache_off" "$work/mix" 1000
st_off=$(idp GET /test/stats)
path_n() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["paths"].get(sys.argv[2], 0))' "$1" "$2"; }
on_total=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$st_on")
off_total=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$st_off")

echo "bench: memory..." >&2
get mj "$work/bench_mem" "$B/libkzauth.so.0" "$pinned" "$work/rs256" 10000
get mo "$work/bench_mem" "$B/libkzauth.so.0" "$online" "$work/opaque" 10000

model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
table=$(cat <<EOF
Machine: $model, $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); \`make bench\` (tests/bench/run.sh $secs)

| JWT validation, single core | RS256 /s | ES256 /s |
|---|---:|---:|
| openssl speed (verify) | $ossl_rsa | $ossl_ec |
| EVP_DigestVerify on a parsed key (raw) | $rawrs_rate | $rawes_rate |
| libjwt 1.10.2 jwt_decode (PEM per call) | $ljrs_rate ($(ratio "$ljrs_rate" "$ossl_rsa")) | $ljes_rate ($(ratio "$ljes_rate" "$ossl_ec")) |
| libkzauth kz_jwt_validate alone | $kzrs_jwt_only_rate | $kzes_jwt_only_rate |
| libkzauth kz_decide, pinned jwks_file | $kzrs_rate ($rs_ratio) | $kzes_rate ($es_ratio) |
| kz_decide, keys from the on-disk JWKS cache | $kzon_rate ($(ratio "$kzon_rate" "$ossl_rsa")) | |
| kz_decide / EVP raw | $(ratio "$kzrs_rate" "$rawrs_rate") | $(ratio "$kzes_rate" "$rawes_rate") |
| kz_decide p50 / p99 | ${kzrs_p50_us} / ${kzrs_p99_us} us | ${kzes_p50_us} / ${kzes_p99_us} us |

| PS256 and EdDSA, single core | PS256 /s | EdDSA /s |
|---|---:|---:|
| openssl speed (verify; rsa2048 is PKCS#1, PSS costs the same modexp) | $ossl_rsa | $ossl_ed |
| EVP verify on a parsed key (raw) | $rawps_rate | $rawed_rate |
| libkzauth kz_decide, pinned jwks_file | $kzps_rate ($(median "$ps_ratios")) | $kzed_rate ($(median "$ed_ratios")) |
| kz_decide p50 / p99 | ${kzps_p50_us} / ${kzps_p99_us} us | ${kzed_p50_us} / ${kzed_p99_us} us |

Rates are per CPU second, the best of $rounds rounds in which kz_decide and openssl speed
took turns. Ratios in brackets are to \`openssl speed\` of the same round, the median
of the $rounds rounds (RS256:$rs_ratios; ES256:$es_ratios).
Target: kz_decide RS256 >= 0.80 of openssl speed: $(target "$rs_ratio >= 0.80" "$rs_ratio").
Target: kz_decide ES256 >= 0.85 of openssl speed: $(target "$es_ratio >= 0.85" "$es_ratio").

| Opaque tokens | value | target |
|---|---:|---|
| cached decisions (in-process memory cache) | $op_rate /s (p99 $op_p99_us us) | >= 200,000/s: $(target "$op_rate >= 200000" "$op_rate") |
| cold introspection, fresh context + TLS (p50 / p99) | $cold_p50_ms / $cold_p99_ms ms | |
| first cold introspection of a process (loads libcurl) | $cold_first_ms ms | |

| PAM | p50 | p99 | target |
|---|---:|---:|---|
| in-process authenticate + acct_mgmt, JWT, pinned keys | $pam_authacct_p50_ms ms | $pam_authacct_p99_ms ms | p99 < 1 ms: $(target "$pam_authacct_p99_ms < 1" "$pam_authacct_p99_ms") |
| same, keys from the JWKS disk cache | $pamon_authacct_p50_ms ms | $pamon_authacct_p99_ms ms | |
| whole transaction incl. pam_start (module load) | $pam_txn_p50_ms ms | $pam_txn_p99_ms ms | |
| pamtester + pam_permit.so (baseline) | $sp_base_p50_ms ms | $sp_base_p99_ms ms | |
| pamtester + pam_kztoken, JWT (JWKS disk cache) | $sp_ptj_p50_ms ms | $sp_ptj_p99_ms ms | <= 1.8x baseline: $(target "$sp_ptj_p50_ms <= 1.8 * $sp_base_p50_ms" "$(ratio "$sp_ptj_p50_ms" "$sp_base_p50_ms")x") |
| pamtester + a module that is linked against libcrypto and calls nothing | $sp_linked_p50_ms ms | $sp_linked_p99_ms ms | $(ratio "$sp_linked_p50_ms" "$sp_base_p50_ms")x |
| pamtester + a module that loads and initialises OpenSSL, then pam_permit.so | $sp_ready_p50_ms ms | $sp_ready_p99_ms ms | $(ratio "$sp_ready_p50_ms" "$sp_base_p50_ms")x |
| the same, and it asks for the token (pamtester reads it a byte per read) | $sp_prompt_p50_ms ms | $sp_prompt_p99_ms ms | $(ratio "$sp_prompt_p50_ms" "$sp_base_p50_ms")x |
| libkzauth's own cost in that login (JWT login minus the line above) | $own_ms ms | | <= 0.5 ms: $(target "$own_ms <= 0.5" "$own_ms ms") |
| of that: loading jansson and inih (the line above, with them linked, minus it) | $deps_ms ms | | |
| of that: the module itself (load, configuration, key, decision) | $work_ms ms | | |
| pamtester + pam_permit.so, libcrypto preloaded (as in sshd) | $sp_basec_p50_ms ms | $sp_basec_p99_ms ms | |
| pamtester + pam_kztoken, JWT, libcrypto preloaded | $sp_ptjc_p50_ms ms | $sp_ptjc_p99_ms ms | $(ratio "$sp_ptjc_p50_ms" "$sp_basec_p50_ms")x |
| pamtester + pam_kztoken, opaque (decision disk cache) | $sp_pto_p50_ms ms | $sp_pto_p99_ms ms | |

The fresh-process rows ran in turns, 200 rounds of one run each. Loading libcrypto
alone, before any call into it, costs $(ratio "$sp_linked_p50_ms" "$sp_base_p50_ms")x the baseline here; with the token's conversation
($conv_ms ms) the floor under any token module that verifies with OpenSSL is $(ratio "$floor_ms" "$sp_base_p50_ms")x, before
OpenSSL is initialised or libkzauth does anything.

A JWT login loaded libcurl: $( [ "$curl_loaded" = 0 ] && echo no || echo "YES ($curl_loaded)" ).

| processes | kz_decide RS256 /s (all) | p50 us | p99 us |
|---:|---:|---:|---:|
$conc_rows
| Provider load, 1,000 logins (fresh context each; 20 opaque + 20 JWT, cycled) | requests | /introspect | /jwks |
|---|---:|---:|---:|
| decision cache on (cache_ttl 300) | $on_total | $(path_n "$st_on" /introspect) | $(path_n "$st_on" /jwks) |
| decision cache off (cache_ttl 0) | $off_total | $(path_n "$st_off" /introspect) | $(path_n "$st_off" /jwks) |

| Memory (RSS over the bare process, kB) | JWT, pinned keys | opaque, introspection |
|---|---:|---:|
| after dlopen(libkzauth) + kz_ctx_open | $mj_load_kb | $mo_load_kb |
| after the first decision | $mj_first_kb | $mo_first_kb |
| after 1,000 more (warm) | $mj_warm_kb | $mo_warm_kb |
| after 10,000 more | $mj_end_kb | $mo_end_kb |
| growth after warm-up | $mj_growth_kb | $mo_growth_kb |
EOF
)
printf '%s\n' "$table"
[ -n "${KZ_BENCH_OUT:-}" ] && printf '%s\n' "$table" > "$KZ_BENCH_OUT"
[ "$mj_growth_kb" -le 64 ] && [ "$mo_growth_kb" -le 64 ] || { echo "bench: memory grows after warm-up"; fail=1; }
[ "$curl_loaded" = 0 ] || fail=1
# NSS lookups through glibc, kztoken against libnss_files (issue 15)
bash "$KZ_ROOT/tests/bench/bench_nss.sh" || fail=1
missed=$(cat "$work/missed" 2>/dev/null | wc -l)
echo "bench: $missed target(s) missed"
[ "$missed" -eq 0 ] || grep 'MISSED' <<<"$table" | sed 's/^/bench: missed: /' 
[ "$missed" -eq 0 ] || fail=1
exit $fail
