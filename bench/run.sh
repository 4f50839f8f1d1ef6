#!/bin/bash
# run.sh - measure mlops against its peers on the same data in the same run.
#
#   bench/run.sh [--quick] [--reps N] [--only W1,W3] [--update-readme]
#                [--install-peers] [--clean] [--list]
#
# MLOPS_BIN names the binary under test (default ./mlops at the top of the
# tree).  Input data is generated once, from fixed seeds, and cached in
# $BENCH_WORK/data (default ${TMPDIR:-/tmp}/mlops-bench/data); the scratch
# repositories of a run live beside it and are removed at the end.  Results
# go to bench/results/<UTC time>-<commit>.json and the table to stdout.
# Method and workloads: bench/README.md.
set -u

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
PY=/usr/bin/python3
QUICK=0
REPS=
ONLY=
UPDATE_README=0
INSTALL=0
CLEAN=0
ALL="W1 W2 W3 W4 W5 W6 W7 W8 W9 W10"

usage() {
	cat <<-EOF
	usage: bench/run.sh [--quick] [--reps N] [--only W1,W3] [--update-readme]
	                    [--install-peers] [--clean] [--list]
	EOF
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--reps) REPS=${2:?--reps needs a number}; shift ;;
	--reps=*) REPS=${1#*=} ;;
	--only) ONLY=${2:?--only needs a list such as W1,W3}; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--update-readme) UPDATE_README=1 ;;
	--install-peers) INSTALL=1 ;;
	--clean) CLEAN=1 ;;
	--list)
		for f in "$BENCH_DIR"/workloads/w*.sh; do
			sed -n '1,/^W[0-9]*_TITLE/{ /^# /p }' "$f" | sed 's/^# //'
			echo
		done
		exit 0
		;;
	-h | --help) usage 0 ;;
	*) echo "bench: unknown option '$1'" >&2; usage >&2 ;;
	esac
	shift
done
case ${REPS:-x} in
x) REPS=3; [ "$QUICK" = 1 ] && REPS=2 ;;
*[!0-9]* | 0) echo "bench: --reps wants a positive number, not '$REPS'" >&2; exit 2 ;;
esac
SELECTED=${ONLY:-$ALL}
SELECTED=$(echo "$SELECTED" | tr ',a-z' ' A-Z')
for w in $SELECTED; do
	case " $ALL " in *" $w "*) ;; *) echo "bench: no workload '$w' (there are $ALL)" >&2; exit 2 ;; esac
done

if [ "$INSTALL" = 1 ]; then
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q &&
		$SUDO apt-get install -y -q --no-install-recommends \
			git-lfs git-annex restic hyperfine wrk time zstd rsync curl ||
		{ echo "bench: installing the peers failed" >&2; exit 1; }
fi

for t in /usr/bin/time openssl "$PY" git; do
	command -v "$t" >/dev/null ||
		{ echo "bench: '$t' is missing (bench/run.sh --install-peers installs it)" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
# shellcheck source=bench/tools.sh
. "$BENCH_DIR/tools.sh"
for f in "$BENCH_DIR"/workloads/w*.sh; do
	# shellcheck disable=SC1090
	. "$f"
done

MLOPS_BIN=${MLOPS_BIN:-$ROOT/mlops}
case $MLOPS_BIN in /*) ;; */*) MLOPS_BIN=$(pwd)/$MLOPS_BIN ;; *) MLOPS_BIN=$(command -v "$MLOPS_BIN" || echo "$MLOPS_BIN") ;; esac
export MLOPS_BIN

WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/mlops-bench}
DATA=$WORK/data
[ "$CLEAN" = 1 ] && rm -rf "$DATA"
mkdir -p "$DATA" || die "cannot create $DATA"
RUN=$(mktemp -d "$WORK/run.XXXXXX") || die "cannot create a run directory in $WORK"
mkdir -p "$RUN/log"
cleanup() {
	chmod -R u+w "$RUN" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tools run with a home of their own: no user configuration, hooks or
# credentials leak into the measurement.
export HOME="$RUN/home"
mkdir -p "$HOME"
unset MLOPS_CONFIG GIT_DIR GIT_WORK_TREE XDG_CONFIG_HOME
export GIT_CONFIG_NOSYSTEM=1 NO_COLOR=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
git config --global init.defaultBranch main
git config --global advice.detachedHead false
git config --global user.name bench
git config --global user.email bench@example.com
export RESTIC_PASSWORD=mlops-bench RESTIC_CACHE_DIR="$RUN/restic-cache"

RESULTS_TSV=$RUN/results.tsv
: >"$RESULTS_TSV"

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sha=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
record_meta started "$started"
record_meta commit "$sha"
record_meta dirty "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo yes || echo no)"
record_meta quick "$QUICK"
record_meta reps "$REPS"
record_meta workloads "$SELECTED"
record_meta mlops_bin "$MLOPS_BIN"
if [ -x "$MLOPS_BIN" ]; then
	record_meta mlops_version "$("$MLOPS_BIN" --version 2>/dev/null | head -n 1)"
else
	record_meta mlops_version "not built"
fi
record_meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
record_meta cores "$(nproc)"
record_meta memory_kib "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
record_meta kernel "$(uname -r)"
record_meta filesystem "$(df -T "$WORK" | awk 'NR == 2 { print $2 }')"
record_meta load "$(cut -d' ' -f1-3 /proc/loadavg)"
record_meta prime "$(prime_wanted && echo "yes: free page reporting (see prime in bench/lib.sh)" || echo no)"
vc_versions

say "bench: mlops = $MLOPS_BIN ($(sed -n 's/^meta\tmlops_version\t//p' "$RESULTS_TSV"))"
say "bench: $REPS repetition(s)$([ "$QUICK" = 1 ] && echo ', quick sizes'); data in $DATA"
t_start=$SECONDS
for w in $SELECTED; do
	title=${w}_TITLE
	say "== $w: ${!title}"
	record_meta "$w.title" "${!title}"
	t_w=$SECONDS
	"$(echo "$w" | tr 'W' 'w')"
	record_meta "$w.seconds" "$((SECONDS - t_w))"
	say "== $w done in $((SECONDS - t_w)) s"
done
record_meta seconds "$((SECONDS - t_start))"
record_meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$BENCH_DIR/results"
out="$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)-$sha.json"
args=(--tsv "$RESULTS_TSV" --json "$out")
[ "$UPDATE_README" = 1 ] && args+=(--readme "$BENCH_DIR/README.md")
cp "$RESULTS_TSV" "${out%.json}.tsv"
"$PY" "$BENCH_DIR/report.py" "${args[@]}" || die "report.py failed; the raw rows are in ${out%.json}.tsv"
say "bench: results in $out ($((SECONDS - t_start)) s)"
