#!/bin/bash
# tests/deb/test_nsswitch_edit.sh - the package's nsswitch.conf editing
# (nsswitch_add in postinst, nsswitch_remove in postrm), taken from the
# maintainer scripts themselves and run on scratch files: the exact line
# each variant becomes, every other line byte for byte, and add then remove
# giving back the file as it was.
. "$(dirname "$0")/../lib.sh"

deb=$KZ_ROOT/packaging/deb/debian
work=$(mktemp -d /tmp/kz-nsswitch.XXXXXX)
trap 'rm -rf "$work"' EXIT
{
	sed -n '/^nsswitch_add() {/,/^}/p' "$deb/kztoken.postinst"
	sed -n '/^nsswitch_remove() {/,/^}/p' "$deb/kztoken.postrm"
} > "$work/fns.sh"
grep -q '^nsswitch_add() {' "$work/fns.sh" && grep -q '^nsswitch_remove() {' "$work/fns.sh" &&
	t_pass "both functions found in the maintainer scripts" || t_fail "functions not found"
. "$work/fns.sh"

# case NAME INPUT_LINE EXPECTED_AFTER_ADD [EXPECTED_AFTER_REMOVE (default: INPUT)]
case_() {
	local name=$1 in=$2 want_add=$3 want_rm=${4-$2} f=$work/nsswitch.conf
	printf '# top comment\n%s\nhosts:          files dns\n' "$in" > "$f"
	nsswitch_add "$f"
	t_check "add: $name" "$want_add" "$(sed -n 2p "$f")"
	t_check "add: $name: other lines untouched" "$(printf '# top comment\nhosts:          files dns')" "$(sed 2d "$f")"
	nsswitch_remove "$f"
	t_check "remove: $name" "$want_rm" "$(sed -n 2p "$f")"
	t_check "remove: $name: other lines untouched" "$(printf '# top comment\nhosts:          files dns')" "$(sed 2d "$f")"
}
tab=$'\t'
case_ "Debian's default" "passwd:         files systemd" "passwd:         files systemd kztoken"
case_ "group line" "group:          files systemd" "group:          files systemd kztoken"
case_ "an action bracket" "passwd: files [NOTFOUND=return] systemd" "passwd: files [NOTFOUND=return] systemd kztoken"
case_ "tabs" "passwd:${tab}files${tab}systemd" "passwd:${tab}files${tab}systemd kztoken"
case_ "trailing blanks kept" "passwd: files${tab} " "passwd: files kztoken${tab} "
case_ "indented line" "  passwd: files" "  passwd: files kztoken"
case_ "already there" "passwd: files kztoken systemd" "passwd: files kztoken systemd" "passwd: files systemd"
case_ "already there after a tab" "passwd: files${tab}kztoken" "passwd: files${tab}kztoken" "passwd: files"
case_ "no space after the colon" "group:kztoken files" "group:kztoken files" "group: files"
case_ "twice" "passwd: files kztoken kztoken" "passwd: files kztoken kztoken" "passwd: files"
case_ "with its own bracket" "passwd: files kztoken [UNAVAIL=return] systemd" "passwd: files kztoken [UNAVAIL=return] systemd" "passwd: files systemd"
case_ "with two brackets of its own" "passwd: files kztoken [NOTFOUND=return][UNAVAIL=return] systemd" "passwd: files kztoken [NOTFOUND=return][UNAVAIL=return] systemd" "passwd: files systemd"
case_ "its bracket without a blank" "passwd: files kztoken[NOTFOUND=return] systemd" "passwd: files kztoken[NOTFOUND=return] systemd" "passwd: files systemd"
case_ "right after another's bracket" "passwd: files [NOTFOUND=return]kztoken" "passwd: files [NOTFOUND=return]kztoken" "passwd: files [NOTFOUND=return]"
case_ "a comment after the sources" "passwd: files # kztoken was here" "passwd: files kztoken # kztoken was here"
case_ "a comment right after" "passwd: files# note" "passwd: files kztoken# note"
case_ "a longer word is another source" "passwd: files kztokenx" "passwd: files kztokenx kztoken"
case_ "a commented-out line" "#passwd: files" "#passwd: files"
case_ "shadow is not ours" "shadow: files" "shadow: files"

# CRLF: the CR stays where it was
printf 'passwd: files\r\ngroup: files\r\n' > "$work/crlf"
nsswitch_add "$work/crlf"
t_check "CRLF: kztoken before the CR" "$(printf 'passwd: files kztoken\r\ngroup: files kztoken\r\n' | od -c)" "$(od -c < "$work/crlf")"
nsswitch_remove "$work/crlf"
t_check "CRLF: back as it was" "$(printf 'passwd: files\r\ngroup: files\r\n' | od -c)" "$(od -c < "$work/crlf")"

# the real file round-trips byte for byte, and a symlink stays a symlink
cp /etc/nsswitch.conf "$work/real"
sum=$(sha256sum < "$work/real")
nsswitch_add "$work/real"
t_check "this host's nsswitch.conf: one kztoken on passwd and group" "1 1" \
	"$(grep -E '^passwd:' "$work/real" | grep -o -w kztoken | wc -l) $(grep -E '^group:' "$work/real" | grep -o -w kztoken | wc -l)"
nsswitch_remove "$work/real"
t_check "and back byte for byte" "$sum" "$(sha256sum < "$work/real")"
printf 'passwd: files\n' > "$work/target"
ln -s target "$work/link"
nsswitch_add "$work/link"
[ -L "$work/link" ] && t_pass "a symlinked file stays a symlink" || t_fail "symlink replaced"
t_check "and its target is edited" "passwd: files kztoken" "$(cat "$work/target")"
# owner and mode stay as they were (the file is replaced, not rewritten)
printf 'passwd: files\n' > "$work/mode"
chmod 0640 "$work/mode"
nsswitch_add "$work/mode"
t_check "mode kept" 640 "$(stat -c %a "$work/mode")"
t_check "and edited" "passwd: files kztoken" "$(cat "$work/mode")"

# A temp file left by an earlier run killed half way (the old fixed name
# "FILE.kztoken-new"), here a symlink to another file: the edit writes a
# fresh file of its own and never through it
printf 'passwd: files\n' > "$work/stale"
printf 'precious\n' > "$work/precious"
ln -s precious "$work/stale.kztoken-new"
nsswitch_add "$work/stale"
t_check "stale temp name: the file is edited" "passwd: files kztoken" "$(cat "$work/stale")"
t_check "stale temp name: not written through" "precious" "$(cat "$work/precious")"
rm -f "$work/stale.kztoken-new" "$work/stale" "$work/precious"

# Temp files of earlier runs killed half way (mktemp's FILE.kztoken-XXXXXX,
# one per killed install or remove) are taken away by the next run, so
# that purge leaves none in /etc; a symlink among them is removed, never
# followed
for fn in nsswitch_add nsswitch_remove; do
	printf 'passwd: files kztoken\n' > "$work/left"
	printf 'precious\n' > "$work/precious"
	printf 'passwd: files\n' > "$work/left.kztoken-Ab12Cd"
	ln -s precious "$work/left.kztoken-Zz99Yy"
	$fn "$work/left"
	t_check "$fn: stray temp files of a killed run removed" "" \
	    "$(ls "$work"/left.kztoken-* 2>/dev/null)"
	t_check "$fn: ... not followed" "precious" "$(cat "$work/precious")"
	rm -f "$work/left" "$work/precious" "$work"/left.kztoken-*
done

# A full disk: the old file stays whole.  Written in place, the edit cut
# the file at the disk's last free page: "hosts: files dns" lost its
# sources.  The file ends 6 bytes short of a page, so the edited copy
# needs a second page; two pages are free: the copy fits, a rewrite in
# place (which frees one page and needs two) does not.
if [ "$(id -u)" = 0 ] && mkdir "$work/full" && mount -t tmpfs -o size=16k tmpfs "$work/full" 2>/dev/null; then
	python3 - "$work/full/nsswitch.conf" <<'PY'
import sys
tail = "passwd: files\ngroup: files\nhosts: files dns\n"
head = "".join("# %s\n" % ("x" * 70) for _ in range(54))
pad = 4090 - len(head) - len(tail)
open(sys.argv[1], "w").write(head + "#" + "y" * (pad - 2) + "\n" + tail)
PY
	before=$(sha256sum < "$work/full/nsswitch.conf")
	i=0
	while dd if=/dev/zero of="$work/full/fill$i" bs=4096 count=1 2>/dev/null; do i=$((i + 1)); done
	rm -f "$work/full/fill$i" "$work/full/fill0" "$work/full/fill1"
	( nsswitch_add "$work/full/nsswitch.conf" ) 2>/dev/null
	after=$(sha256sum < "$work/full/nsswitch.conf")
	if [ "$after" = "$before" ]; then
		t_pass "full disk: nsswitch.conf left as it was"
	else
		t_check "full disk: nsswitch.conf edited whole" "hosts: files dns" "$(tail -n 1 "$work/full/nsswitch.conf")"
	fi
	ls "$work/full"/*.kztoken-* >/dev/null 2>&1 && t_fail "full disk: a temp file was left" || t_pass "full disk: no temp file left"
	umount "$work/full"
else
	t_skip "full disk" "needs root and a tmpfs mount"
fi
ls "$work"/*.kztoken-* >/dev/null 2>&1 && t_fail "a temp file was left" || t_pass "no temp file left"
t_done
