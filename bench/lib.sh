# lib.sh - the benchmark harness: timing, result rows, cached input data,
# and detection of what mlops and the peers can do.  Sourced by run.sh.
#
# Results are rows of tab-separated fields appended to $RESULTS_TSV; report.py
# turns them into the JSON file and the table.  Row kinds:
#   meta     KEY VALUE                       facts about the run
#   version  TOOL VERSION                    peer versions, recorded at run time
#   sample   W OP TOOL REP WALL RSS RC INBYTES STORED CMD NOTE
#   skip     W OP TOOL REASON
#   ref      W OP TOOL WALL STORED NOTE      figures from the issue, not re-run
# W is the workload id (W1..W10), OP the operation ("add", "status", ...),
# WALL seconds, RSS peak resident KiB, STORED bytes (or empty).
#
# A timed command runs under /usr/bin/time -f '%e %M' (peak RSS of the
# process and the children it waited for); the wall time is taken from
# bash's $EPOCHREALTIME around it, which resolves microseconds where %e
# stops at 10 ms.  Output goes to files under $RUN/log, never to the terminal.

export LC_ALL=C TZ=UTC

# --- messages ---------------------------------------------------------------

say() { printf '%s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Human-readable sizes for progress lines: "2.1 GB" (decimal).
human() {
	awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u); i = 1;
		while (b >= 1000 && i < 5) { b /= 1000; i++ }
		printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

# --- result rows --------------------------------------------------------------

# Fields may not hold tabs or newlines: squash them.
tsv_clean() { printf '%s' "$*" | tr '\t\n' '  '; }

row() {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$RESULTS_TSV"
}

record_meta() { row meta "$1" "$(tsv_clean "$2")"; }
record_version() { row version "$1" "$(tsv_clean "$2")"; }

# record_skip W OP TOOL REASON
record_skip() {
	row skip "$1" "$2" "$3" "$(tsv_clean "$4")"
	say "  $1 $2 $3: skipped: $4"
}

# record_ref W OP TOOL WALL STORED NOTE
record_ref() { row ref "$1" "$2" "$3" "$4" "$5" "$(tsv_clean "$6")"; }

# --- memory the host has backed -----------------------------------------------

# On a virtual machine that reports free memory to its host (virtio-balloon
# free page reporting: /sys/module/page_reporting), memory that has been
# free a moment is handed back, and the next write into the page cache pays
# for each page again, inside the copy: here 2 GiB written into a new file
# took 0.44 s right after 2 GiB of files were deleted and 2.8-4.0 s when
# nothing had been freed since (2.6-3.8 s of it system time).  Which step
# gets memory still backed then depends on what ran before it: a pull right
# after its push ran 3.0-6.0 s, the same pull right after a deletion 1.2 s.
# So before each timed step, a file of the step's size (at most 4 GiB, at
# most a quarter of the available memory) is written and deleted, and every
# step of every tool starts with the same memory at hand, as on a machine
# of its own.  BENCH_PRIME=0 turns this off; it is off where there is no
# page reporting.
prime_wanted() {
	case ${BENCH_PRIME:-auto} in
	0 | no | off) return 1 ;;
	auto) [ -d /sys/module/page_reporting ] ;;
	*) return 0 ;;
	esac
}

# prime BYTES: write and delete a file of (about) BYTES, as said above.
prime() {
	local mb=$((($1 + 1048575) / 1048576)) avail
	avail=$(awk '/^MemAvailable/ { print int($2 / 4096) }' /proc/meminfo)
	[ "$mb" -gt 4096 ] && mb=4096
	[ -n "$avail" ] && [ "$mb" -gt "$avail" ] && mb=$avail
	[ "$mb" -gt 0 ] || return 0
	dd if=/dev/zero of="$RUN/.prime" bs=1M count="$mb" status=none 2>/dev/null
	rm -f "$RUN/.prime"
}

# bench_time W OP TOOL INBYTES CMD [ARGS...]
#   Run CMD (in the current directory) once, timed; append a sample row.
#   Returns CMD's exit status; $BENCH_LAST_OUT names the file holding its
#   standard output.
bench_time() {
	local w=$1 op=$2 tool=$3 inbytes=$4
	shift 4
	local n="$BASHPID-$((++BENCH_SEQ))"
	local tf="$RUN/log/$n.time" out="$RUN/log/$n.out" err="$RUN/log/$n.err"
	local t0 t1 rc
	if prime_wanted && [ "${inbytes:-0}" -gt 0 ] 2>/dev/null; then prime "$inbytes"; fi
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%e %M' -o "$tf" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
	t1=$EPOCHREALTIME
	local us=$(( ${t1/./} - ${t0/./} ))
	local wall rss note=
	wall=$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))
	rss=$(tail -n 1 "$tf" | awk '{ print $2 }')
	# A step may succeed with another status (monitor check: 1 = drift).
	case " ${BENCH_OK_CODES:-} " in
	*" $rc "*) [ "$rc" = 0 ] || { note="exit $rc (expected)"; rc=0; } ;;
	esac
	if [ "$rc" != 0 ]; then
		note="exit $rc: $(tail -n 3 "$err" | tr '\n' ' ' | cut -c1-300)"
		say "  $w $op $tool: FAILED ($note) - log $err"
	else
		say "$(printf '  %-4s %-26s %-22s %9.3f s %8s KiB' "$w" "$op" "$tool" "$wall" "$rss")"
	fi
	row sample "$w" "$op" "$tool" "${REP:-1}" "$wall" "$rss" "$rc" \
		"$inbytes" "" "$(tsv_clean "$(cmd_string "$@")")" "$(tsv_clean "$note")"
	BENCH_LAST_OUT=$out
	return "$rc"
}
BENCH_SEQ=0

# Amend a field of the last sample row (the file's last line), for facts
# known only after the timed step: bytes stored, a model's accuracy.
bench_amend() {
	local idx=$1
	V=$(tsv_clean "$2") awk -F'\t' -v OFS='\t' -v i="$idx" -v n="$(wc -l <"$RESULTS_TSV")" \
		'NR == n && $1 == "sample" { $(i + 1) = ENVIRON["V"] } { print }' \
		"$RESULTS_TSV" >"$RESULTS_TSV.tmp" && mv "$RESULTS_TSV.tmp" "$RESULTS_TSV"
}
bench_stored() { bench_amend 9 "$1"; }
bench_note() { bench_amend 11 "$1"; }

# The command as a user would type it: paths under the run directory are
# shown relative, the binary under test as "mlops".
cmd_string() {
	local s='' a
	for a in "$@"; do
		a=${a//"$MLOPS_BIN"/mlops}
		a=${a//"$RUN/"/}
		a=${a//"$DATA/"/}
		a=${a//"$BENCH_DIR/"/bench/}
		case $a in
		*[[:space:]\'\"\$\;\&\|]*) s+="'${a//\'/\'\\\'\'}' " ;;
		*) s+="$a " ;;
		esac
	done
	printf '%s' "${s% }"
}

# --- order and repetitions -----------------------------------------------------

# rotate REP ITEM... : the items rotated left by REP-1, so that over the
# repetitions each tool runs in each position (the first repetition's
# leader runs last in the second, and so on).
rotate() {
	local r=$1
	shift
	local n=$# i
	local items=("$@")
	for ((i = 0; i < n; i++)); do
		printf '%s\n' "${items[(i + r - 1) % n]}"
	done
}

# Read inputs once so that every tool starts from a warm page cache.
warm() {
	local p
	for p in "$@"; do
		if [ -d "$p" ]; then
			find "$p" -type f -print0 | xargs -0 -r cat >/dev/null
		else
			cat "$p" >/dev/null
		fi
	done
}

# Write back dirty pages between timed steps, so that one tool does not pay
# for the writes of the one before it.
settle() { sync; }

# Bytes a path holds (apparent size, recursively).
bytes_of() { du -sb "$1" 2>/dev/null | awk '{ print $1 }'; }

# --- mlops: what the binary can do -------------------------------------------------

# mlops_can CMD [SUB]: 0 when the binary exists and `mlops CMD [SUB] -h`
# succeeds.  Otherwise 1, with the reason in $WHY.
mlops_can() {
	WHY=
	if [ ! -x "$MLOPS_BIN" ]; then
		WHY="mlops binary not found at $MLOPS_BIN (build it with make)"
		return 1
	fi
	if ! "$MLOPS_BIN" "$@" -h >/dev/null 2>&1; then
		WHY="mlops has no '$*' command yet"
		return 1
	fi
	return 0
}

# mlops_needs W OP CMD... : mlops_can for each CMD (a quoted command line
# such as "dataset add"); when one is missing, record a skip row for tool
# mlops and return 1.
#   mlops_needs W6 train "dataset add" train
mlops_needs() {
	local w=$1 op=$2 c words
	shift 2
	for c in "$@"; do
		read -ra words <<<"$c"
		if ! mlops_can "${words[@]}"; then
			record_skip "$w" "$op" mlops "$WHY"
			return 1
		fi
	done
	return 0
}

mlops() { "$MLOPS_BIN" "$@"; }

# --- peers ----------------------------------------------------------------

# peer_can TOOL: 0 when the peer is installed, else 1 with $WHY.
peer_can() {
	WHY=
	case " ${BENCH_SKIP:-} " in
	*" $1 "*) WHY="$1 left out (BENCH_SKIP)"; return 1 ;;
	esac
	case $1 in
	git-lfs) git lfs version >/dev/null 2>&1 && return 0 ;;
	git-annex) command -v git-annex >/dev/null && return 0 ;;
	pandas) /usr/bin/python3 -c 'import pandas' 2>/dev/null && return 0 ;;
	sklearn) /usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null && return 0 ;;
	scipy) /usr/bin/python3 -c 'import scipy, pandas' 2>/dev/null && return 0 ;;
	*) command -v "$1" >/dev/null && return 0 ;;
	esac
	WHY="$1 is not installed (bench/run.sh --install-peers)"
	return 1
}

# --- input data (cached in $DATA, keyed by generator, size and seed) ---------

# data_random SIZE SEED: a file of SIZE incompressible bytes; prints its path.
# AES-128-CTR of zeros under a key derived from SEED: fast and the same
# bytes everywhere, unlike /dev/urandom.
random_stream() {
	local key
	key=$(printf 'mlops-bench-%s' "$1" | sha256sum | cut -c1-32)
	openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 \
		-nosalt -in /dev/zero 2>/dev/null
}

data_random() {
	local size=$1 seed=$2 f="$DATA/random-$1-s$2.bin"
	if [ ! -f "$f" ]; then
		say "  generating $(human "$size") of random bytes -> $f"
		random_stream "$seed" | head -c "$size" >"$f.tmp" && mv "$f.tmp" "$f"
	fi
	printf '%s\n' "$f"
}

# data_tree FILES SEED: FILES files of 1-8 KiB in a two-level tree.
data_tree() {
	local n=$1 seed=$2 d="$DATA/tree-$1-s$2"
	if [ ! -d "$d" ]; then
		say "  generating a tree of $n files -> $d"
		rm -rf "$d.tmp"
		random_stream "tree-$seed" | "$PY" "$BENCH_DIR/gen.py" tree "$d" "$n" "$seed"
	fi
	printf '%s\n' "$d"
}

# data_csv BYTES SEED: the event table, BYTES long (rounded up to a row).
data_csv() {
	local f="$DATA/events-$1-s$2.csv"
	if [ ! -f "$f" ]; then
		say "  generating a $(human "$1") CSV -> $f"
		"$PY" "$BENCH_DIR/gen.py" csv "$f" "$1" "$2"
	fi
	printf '%s\n' "$f"
}

# data_csv_v2 V1 MODE SEED: v1 with 1% rows appended, 0.1% edited.
data_csv_v2() {
	local f="${1%.csv}-v2-$2-s$3.csv"
	if [ ! -f "$f" ]; then
		say "  generating v2 ($2 edits) -> $f"
		"$PY" "$BENCH_DIR/gen.py" edit "$1" "$f" "$2" "$3"
	fi
	printf '%s\n' "$f"
}

# data_train ROWS FEATURES SEED: the training table.
data_train() {
	local f="$DATA/train-$1x$2-s$3.csv"
	if [ ! -f "$f" ]; then
		say "  generating a $1 x $2 training table -> $f"
		"$PY" "$BENCH_DIR/gen.py" train "$f" "$1" "$2" "$3"
	fi
	printf '%s\n' "$f"
}

# fresh DIR: an empty directory (removed first if present).
fresh() {
	rm -rf "$1"
	mkdir -p "$1"
}

# place SRC DEST: put the input into a workspace as hard links (instant, and
# no tool here writes a file in place).  Modifications replace files.
place() {
	mkdir -p "$(dirname "$2")"
	if [ -d "$1" ]; then
		cp -al "$1" "$2"
	else
		ln "$1" "$2"
	fi
}
