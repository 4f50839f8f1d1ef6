# lib.sh - the command-line test harness (TAP, for prove).
#
# Each tNNNN-*.sh script sources this file, which makes one trash directory
# for the script and cds into it.  Test cases are chains of commands:
#
#   test_expect_success 'init twice changes nothing' '
#       mlops init && mlops init && test -d .mlops
#   '
#
# Helpers: test_must_fail CMD, test_expect_code N CMD, test_cmp A B,
# test_grep PATTERN FILE, test_skip_unless_cmd NAME, test_done.
# The binary under test is $MLOPS_BIN (set by the Makefile); `mlops` is a
# function that runs it, under valgrind when MLOPS_VALGRIND=1.  Both
# MLOPS_VALGRIND and MLOPS_SANITIZE (set by make sanitize) mean a slow
# binary: tests skip their timing checks then.

set -u
: "${MLOPS_BIN:?MLOPS_BIN must point at the binary under test (run through make test)}"
TEST_NAME=$(basename "$0" .sh)
TEST_SRC=$(cd "$(dirname "$0")" && pwd)
TEST_ROOT=$(cd "$TEST_SRC/../.." && pwd)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/mlops-$TEST_NAME.XXXXXX")
export HOME="$TRASH/home"
mkdir -p "$HOME"
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL="committer@example.com"
export NO_COLOR=1 LC_ALL=C TZ=UTC
unset MLOPS_CONFIG
git config --global user.name "A U Thor"
git config --global user.email "author@example.com"
git config --global init.defaultBranch main
git config --global advice.detachedHead false

test_count=0
test_failed=0
test_skipped=0

mlops() {
	if [ "${MLOPS_VALGRIND:-}" = 1 ]; then
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
			--error-exitcode=126 "$MLOPS_BIN" "$@"
	else
		"$MLOPS_BIN" "$@"
	fi
}

say() { echo "# $*"; }

test_expect_success() {
	test_count=$((test_count + 1))
	_desc=$1
	_body=$2
	_out="$TRASH/.out.$test_count"
	# A failure's output goes to stderr too, which prove shows even when
	# it is not verbose (a CI log keeps it).
	if (cd "$TRASH/work" && eval "$_body") >"$_out" 2>&1; then
		echo "ok $test_count - $_desc"
	else
		echo "not ok $test_count - $_desc"
		sed 's/^/#   /' "$_out"
		{ echo "# $TEST_NAME: not ok $test_count - $_desc (its last 40 lines):"
		  tail -n 40 "$_out" | sed 's/^/#   /'; } >&2
		test_failed=$((test_failed + 1))
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count - # SKIP $1"
	test_skipped=$((test_skipped + 1))
}

# test_must_fail CMD...: CMD exits non-zero and was not killed by a signal
# (or by a sanitizer's abort).
test_must_fail() {
	"$@"
	_rc=$?
	if [ $_rc -eq 0 ]; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ $_rc -gt 125 ]; then
		echo "test_must_fail: command died with $_rc: $*" >&2
		return 1
	fi
	return 0
}

test_expect_code() {
	_want=$1
	shift
	"$@"
	_rc=$?
	if [ $_rc -ne "$_want" ]; then
		echo "test_expect_code: expected $_want, got $_rc: $*" >&2
		return 1
	fi
	return 0
}

test_cmp() {
	diff -u "$1" "$2"
}

test_grep() {
	if ! grep -q -e "$1" "$2"; then
		echo "test_grep: '$1' not found in $2:" >&2
		sed 's/^/    /' "$2" >&2
		return 1
	fi
}

test_have_cmd() {
	command -v "$1" >/dev/null 2>&1
}

# flip_byte FILE OFFSET: replace the byte at OFFSET by its complement, a
# change whatever the byte was (writing a fixed byte leaves one in 256
# random bytes as they were).  Only this copy is damaged: a file with other
# links (a fetch links a directory remote's packs into the store, a push the
# store's packs into the remote) is copied first, so that the damage does
# not reach the other repositories of a test by way of a shared inode.
flip_byte() {
	if [ "$(stat -c %h "$1")" -gt 1 ]; then
		cp -p "$1" "$1.flip" && mv -f "$1.flip" "$1" || return 1
	fi
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d " \n") && test -n "$_b" &&
	printf "$(printf "\\%03o" $((255 - _b)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# Where a remote's packs hold object ID: "PACKFILE OFFSET LENGTH" (pack.h:
# a 56-byte index header, then 56-byte entries: id, offset and length as
# 64-bit little endian).  A pack's id is in its index, or zero when the pack
# is named by its index.  Prints nothing when no pack holds it.
remote_pack_entry() {
	for idx in "$1"/packs/*.idx; do
		[ -f "$idx" ] || continue
		line=$(od -An -v -tx1 -w56 -j56 "$idx" | tr -d ' ' | grep "^$2") || continue
		le() { echo "$1" | sed 's/\(..\)/\1 /g' | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }'; }
		off=$(printf "%d" "0x$(le "$(echo "$line" | cut -c65-80)")")
		len=$(printf "%d" "0x$(le "$(echo "$line" | cut -c81-96)")")
		pid=$(od -An -v -tx1 -j8 -N32 "$idx" | tr -d ' \n')
		case $pid in
		*[1-9a-f]*) pack="$1/packs/$pid.pack" ;;
		*) pack="${idx%.idx}.pack" ;;
		esac
		echo "$pack $off $len"
		return 0
	done
}

test_done() {
	echo "1..$test_count"
	if [ "${MLOPS_KEEP_TRASH:-}" != 1 ]; then
		chmod -R u+w "$TRASH" 2>/dev/null
		rm -rf "$TRASH"
	else
		say "trash kept in $TRASH"
	fi
	[ $test_failed -eq 0 ]
	exit $?
}

mkdir -p "$TRASH/work"
cd "$TRASH/work" || exit 1
