# tools.sh - one adapter per versioning tool, so that the workloads that
# version a path (W1, W2, W3) run the same steps on each:
#
#   vc_can TOOL                      installed / capable? (reason in $WHY)
#   vc_init TOOL WS                  empty repository with workspace WS (untimed)
#   vc_add TOOL WS PATH NAME         sets CMD: snapshot PATH (relative to WS)
#   vc_after_add TOOL WS             untimed bookkeeping after an add (git commit)
#   vc_status TOOL WS PATH           sets CMD: "did anything change?"
#   vc_checkout TOOL WS DEST NAME    sets CMD: materialize the newest version in DEST
#   vc_stored TOOL WS                bytes the tool's store holds
#
# Every CMD runs with WS as the current directory.  The exact commands are
# recorded in each result row and listed in bench/README.md.

VC_TOOLS="mlops git-lfs git-annex restic"

# Tool runs too slow to repeat: git-annex spends ~15 ms a file on the many
# small files of W2 and W4 (50,000 files: over ten minutes a step), so it
# runs in the first repetition only there.  BENCH_ALL_REPS=1 repeats all.
VC_ONCE="W2:git-annex W4:git-annex"
run_once_only() {
	[ "${BENCH_ALL_REPS:-0}" = 1 ] && return 1
	[ "${REP:-1}" -gt 1 ] || return 1
	case " $VC_ONCE " in *" $1:$2 "*) return 0 ;; esac
	return 1
}

vc_can() {
	case $1 in
	mlops) mlops_can dataset add ;;
	*) peer_can "$1" ;;
	esac
}

# Which step a tool cannot do, for tools with some steps missing.
vc_can_step() {
	local tool=$1 step=$2
	WHY=
	[ "$tool" = mlops ] || return 0
	case $step in
	status) mlops_can status ;;
	checkout) mlops_can dataset checkout ;;
	*) mlops_can dataset add ;;
	esac
}

vc_init() {
	local tool=$1 ws=$2
	fresh "$ws"
	case $tool in
	mlops)
		(cd "$ws" && mlops init >/dev/null)
		;;
	git-lfs)
		(cd "$ws" && git init -q && git lfs install --local >/dev/null)
		;;
	git-annex)
		(cd "$ws" && git init -q && git annex init -q bench >/dev/null 2>&1)
		;;
	restic)
		restic init -q -r "$ws.restic" >/dev/null
		;;
	esac
}

vc_add() {
	local tool=$1 ws=$2 path=$3 name=$4 pattern=$3
	[ -d "$ws/$path" ] && pattern="$path/**"
	case $tool in
	mlops) CMD=("$MLOPS_BIN" dataset add "$path" --name "$name") ;;
	git-lfs) CMD=(sh -c 'git lfs track "$1" >/dev/null && git add -- .gitattributes "$2"' sh "$pattern" "$path") ;;
	git-annex) CMD=(git annex add -q -- "$path") ;;
	restic) CMD=(restic -q -r "$ws.restic" backup "$path") ;;
	esac
}

vc_after_add() {
	local tool=$1 ws=$2
	case $tool in
	git-lfs | git-annex) (cd "$ws" && git commit -qm snapshot >/dev/null) ;;
	esac
	# An annexed file is read-only and shares its inode with the cached
	# input: give the input its write bit back.
	[ "$tool" = git-annex ] && chmod -R u+w "$ws/.git/annex/objects" 2>/dev/null
	return 0
}

vc_status() {
	local tool=$1 ws=$2 path=$3
	case $tool in
	mlops) CMD=("$MLOPS_BIN" status) ;;
	git-lfs | git-annex) CMD=(git status --porcelain) ;;
	restic) CMD=(restic -q -r "$ws.restic" backup --dry-run "$path") ;;
	esac
}

vc_checkout() {
	local tool=$1 ws=$2 dest=$3 name=$4
	case $tool in
	mlops) CMD=("$MLOPS_BIN" dataset checkout "$name" --to "$dest") ;;
	git-lfs) CMD=(git worktree add -q --detach "$dest") ;;
	git-annex) CMD=(sh -c 'git clone -q "$1" "$2" && cd "$2" && git annex get -q .' sh "$ws" "$dest") ;;
	restic) CMD=(restic -q -r "$ws.restic" restore latest --target "$dest") ;;
	esac
}

vc_stored() {
	local tool=$1 ws=$2
	case $tool in
	mlops) bytes_of "$ws/.mlops/objects" ;;
	git-lfs) bytes_of "$ws/.git/lfs/objects" ;;
	git-annex) bytes_of "$ws/.git/annex/objects" ;;
	restic) bytes_of "$ws.restic" ;;
	esac
}

vc_cleanup() {
	local ws=$1
	chmod -R u+w "$ws" "$ws.restic" 2>/dev/null
	discard "$ws" "$ws.restic" "$ws.co"
}

# discard PATH...: remove, or for a tree of many files move aside until the
# scenario ends (empty_trash).  ext4 skips inodes freed in the last minute
# when it allocates new ones, scanning past them: deleting 100,000 files
# between two repetitions made the next one's file creations 3 to 10 times
# slower (cp -r of the W2 tree: 2.6 s after a quiet minute, 8.7 s right
# after a deletion), for every tool, and the medians followed the disk.
discard() {
	local p
	for p in "$@"; do
		[ -e "$p" ] || continue
		if [ "$(find "$p" -type f 2>/dev/null | head -n 2000 | wc -l)" -ge 2000 ]; then
			mkdir -p "$RUN/trash"
			TRASH_N=$((${TRASH_N:-0} + 1))
			mv "$p" "$RUN/trash/$TRASH_N"
		else
			rm -rf "$p"
		fi
	done
}

# empty_trash: delete what discard kept, then let the file system forget
# the freed inodes before the next scenario creates files.
empty_trash() {
	[ -d "$RUN/trash" ] || return 0
	chmod -R u+w "$RUN/trash" 2>/dev/null
	rm -rf "$RUN/trash"
	sync
	say "  (waiting ${BENCH_INODE_REST:-65} s for freed inodes to age)"
	sleep "${BENCH_INODE_REST:-65}"
}

# Sum of the sizes of the regular files under DIR (following links, as an
# annex checkout is links), leaving out .git and .mlops.
file_bytes() {
	find -L "$1" \( -name .git -o -name .mlops \) -prune -o -type f -printf '%s\n' 2>/dev/null |
		awk '{ s += $1 } END { printf "%d\n", s }'
}

# Version strings, recorded at run time.
vc_versions() {
	record_version git "$(git --version | awk '{ print $3 }')"
	peer_can git-lfs && record_version git-lfs "$(git lfs version | awk '{ print $1 }' | cut -d/ -f2)"
	peer_can git-annex && record_version git-annex "$(git annex version --raw 2>/dev/null)"
	peer_can restic && record_version restic "$(restic version | awk '{ print $2 }')"
	peer_can wrk && record_version wrk "$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	peer_can zstd && record_version zstd "$(zstd -V | grep -o 'v[0-9.]*' | head -n 1 | tr -d v)"
	record_version coreutils "$(cp --version | awk 'NR == 1 { print $NF }')"
	record_version openssl "$(openssl version | awk '{ print $2 }')"
	record_version python "$("$PY" -c 'import platform; print(platform.python_version())')"
	peer_can pandas && record_version pandas "$("$PY" -c 'import pandas; print(pandas.__version__)')"
	peer_can sklearn && record_version scikit-learn "$("$PY" -c 'import sklearn; print(sklearn.__version__)')"
	peer_can scipy && record_version scipy "$("$PY" -c 'import scipy; print(scipy.__version__)')"
	return 0
}

# --- the shared scenario: snapshot a path, ask for status, check it out --------

# vc_scenario W SRC PATH NAME STEP...
#   For each repetition, and each tool in rotated order: a fresh repository,
#   SRC placed at WS/PATH, then the STEPs (add, status, touch, checkout),
#   each timed; the machine limits run as one more "tool" in the rotation.
vc_scenario() {
	local w=$1 src=$2 path=$3 name=$4
	shift 4
	local steps=("$@") tools=() t s inbytes
	inbytes=$(file_bytes "$src")
	for t in $VC_TOOLS; do
		if vc_can "$t"; then
			tools+=("$t")
		else
			for s in "${steps[@]}"; do record_skip "$w" "$(vc_opname "$s")" "$t" "$WHY"; done
		fi
	done
	tools+=(limits)
	warm "$src"
	for ((REP = 1; REP <= REPS; REP++)); do
		say "  -- $w repetition $REP/$REPS"
		for t in $(rotate "$REP" "${tools[@]}"); do
			run_once_only "$w" "$t" && continue
			if [ "$t" = limits ]; then
				vc_limits "$w" "$src" "$inbytes" "${steps[@]}"
			else
				vc_one "$w" "$t" "$src" "$path" "$name" "$inbytes" "${steps[@]}"
			fi
		done
	done
	unset REP
	empty_trash
}

vc_opname() {
	case $1 in
	add) echo add ;;
	status) echo "status (no change)" ;;
	touch) echo "status (1 touched)" ;;
	checkout) echo checkout ;;
	esac
}

vc_one() {
	local w=$1 tool=$2 src=$3 path=$4 name=$5 inbytes=$6
	shift 6
	local ws="$RUN/$w-$tool" s op ok=1 got
	vc_init "$tool" "$ws" || { record_skip "$w" add "$tool" "init failed"; return; }
	place "$src" "$ws/$path"
	settle
	for s in "$@"; do
		op=$(vc_opname "$s")
		if ! vc_can_step "$tool" "$s"; then
			record_skip "$w" "$op" "$tool" "$WHY"
			continue
		fi
		if [ $ok = 0 ]; then
			record_skip "$w" "$op" "$tool" "add failed"
			continue
		fi
		case $s in
		add)
			vc_add "$tool" "$ws" "$path" "$name"
			(cd "$ws" && bench_time "$w" "$op" "$tool" "$inbytes" "${CMD[@]}") || ok=0
			bench_stored "$(vc_stored "$tool" "$ws")"
			vc_after_add "$tool" "$ws"
			;;
		status)
			vc_status "$tool" "$ws" "$path"
			(cd "$ws" && bench_time "$w" "$op" "$tool" "" "${CMD[@]}")
			;;
		touch)
			# One file in the middle of the tree gets a new mtime.
			local victim
			victim=$(find "$ws/$path" -type f -o -type l | sort | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')
			sleep 0.01
			touch "$victim"
			vc_status "$tool" "$ws" "$path"
			(cd "$ws" && bench_time "$w" "$op" "$tool" "" "${CMD[@]}")
			;;
		checkout)
			vc_checkout "$tool" "$ws" "$ws.co" "$name"
			if (cd "$ws" && bench_time "$w" "$op" "$tool" "$inbytes" "${CMD[@]}"); then
				if [ -e "$ws.co/$path" ]; then got=$(file_bytes "$ws.co/$path"); else got=$(file_bytes "$ws.co"); fi
				[ "$got" = "$inbytes" ] || say "  $w $op $tool: WARNING: checkout holds $got bytes, expected $inbytes"
			fi
			;;
		esac
		settle
	done
	vc_cleanup "$ws"
}

# The machine's limits for the same steps: read (cat), hash (sha256sum),
# copy (cp), and for trees a stat walk (what a status must at least do).
vc_limits() {
	local w=$1 src=$2 inbytes=$3
	shift 3
	local s tmp="$RUN/$w-limits"
	for s in "$@"; do
		case $s in
		add)
			bench_time "$w" add "cat (read)" "$inbytes" \
				sh -c 'find "$1" -type f -print0 | xargs -0 cat >/dev/null' sh "$src"
			bench_time "$w" add "sha256sum (hash)" "$inbytes" \
				sh -c 'find "$1" -type f -print0 | xargs -0 sha256sum >/dev/null' sh "$src"
			discard "$tmp"
			bench_time "$w" add "cp (copy)" "$inbytes" cp -r "$src" "$tmp"
			discard "$tmp"
			settle
			;;
		status)
			[ -d "$src" ] && bench_time "$w" "$(vc_opname status)" "find (stat walk)" "" \
				sh -c 'find "$1" -printf "%s %T@ %i\n" >/dev/null' sh "$src"
			;;
		checkout)
			discard "$tmp"
			bench_time "$w" checkout "cp (copy)" "$inbytes" cp -r "$src" "$tmp"
			discard "$tmp"
			settle
			;;
		esac
	done
}
