# W3: a CSV (500 MB; --quick 20 MB) and its next versions.  v1 add: time
# and bytes stored; v2 = v1 + 1% rows appended + a contiguous 0.1% of rows
# edited mid-file: time and bytes stored anew; v3 the same with the 0.1%
# of edits scattered over the file (relative to v1, after v2).
W3_TITLE="CSV versions"

w3() {
	local size=500000000
	[ "$QUICK" = 1 ] && size=20000000
	local v1 v2 v3 t tools=()
	v1=$(data_csv "$size" 3)
	v2=$(data_csv_v2 "$v1" contiguous 31)
	v3=$(data_csv_v2 "$v1" scattered 32)
	record_meta W3.size "$size"
	for t in $VC_TOOLS; do
		if vc_can "$t"; then
			tools+=("$t")
		else
			record_skip W3 "v1 add" "$t" "$WHY"
			record_skip W3 "v2 add (contiguous edit)" "$t" "$WHY"
			record_skip W3 "v2 add (scattered edits)" "$t" "$WHY"
		fi
	done
	tools+=(limits)
	warm "$v1" "$v2" "$v3"
	for ((REP = 1; REP <= REPS; REP++)); do
		say "  -- W3 repetition $REP/$REPS"
		for t in $(rotate "$REP" "${tools[@]}"); do
			if [ "$t" = limits ]; then
				w3_limits "$v1"
			else
				w3_one "$t" "$v1" "$v2" "$v3"
			fi
		done
	done
	unset REP
	record_ref W3 "v1 add" DVC 1.4 511000000 "dvc add"
	record_ref W3 "v1 add" restic 3.6 174000000 "restic backup"
	record_ref W3 "v2 add (contiguous edit)" restic "" 3000000 "restic backup; new bytes"
}

w3_one() {
	local tool=$1 v ws="$RUN/W3-$1" before after op
	shift
	vc_init "$tool" "$ws" || { record_skip W3 "v1 add" "$tool" "init failed"; return; }
	before=$(vc_stored "$tool" "$ws")
	for v in "$@"; do
		case $v in
		*-v2-contiguous-*) op="v2 add (contiguous edit)" ;;
		*-v2-scattered-*) op="v2 add (scattered edits)" ;;
		*) op="v1 add" ;;
		esac
		rm -f "$ws/events.csv"
		place "$v" "$ws/events.csv"
		settle
		vc_add "$tool" "$ws" events.csv events
		if ! (cd "$ws" && bench_time W3 "$op" "$tool" "$(stat -c %s "$v")" "${CMD[@]}"); then
			vc_cleanup "$ws"
			return
		fi
		vc_after_add "$tool" "$ws"
		settle
		after=$(vc_stored "$tool" "$ws")
		bench_stored $((after - before))
		before=$after
	done
	vc_cleanup "$ws"
}

# Floors for v1: read, hash, and whole-file zstd -3 (what a compressing
# store without chunk reuse would keep).
w3_limits() {
	local v1=$1 n tmp="$RUN/W3-limits.zst"
	n=$(stat -c %s "$v1")
	bench_time W3 "v1 add" "cat (read)" "$n" sh -c 'cat "$1" >/dev/null' sh "$v1"
	bench_time W3 "v1 add" "sha256sum (hash)" "$n" sha256sum "$v1"
	if peer_can zstd; then
		bench_time W3 "v1 add" "zstd -3 (compress)" "$n" zstd -q -3 -T1 -f -o "$tmp" "$v1"
		bench_stored "$(stat -c %s "$tmp")"
		rm -f "$tmp"
	fi
}
