# W5: exploratory statistics of a 1 GB CSV (--quick 50 MB):
# `mlops dataset stats FILE` against pandas read_csv + describe, and the
# machine's read and line-count floors.
W5_TITLE="CSV statistics"

w5() {
	local size=1000000000
	[ "$QUICK" = 1 ] && size=50000000
	local f n t tools=(limits)
	f=$(data_csv "$size" 5)
	n=$(stat -c %s "$f")
	record_meta W5.size "$size"
	if mlops_needs W5 stats "dataset stats"; then tools+=(mlops); fi
	if peer_can pandas; then tools+=(pandas); else record_skip W5 stats pandas "$WHY"; fi
	warm "$f"
	for ((REP = 1; REP <= REPS; REP++)); do
		for t in $(rotate "$REP" "${tools[@]}"); do
			case $t in
			mlops) bench_time W5 stats mlops "$n" "$MLOPS_BIN" dataset stats "$f" ;;
			pandas) bench_time W5 stats "pandas read_csv+describe" "$n" "$PY" "$BENCH_DIR/peers/pandas_stats.py" "$f" ;;
			limits)
				bench_time W5 stats "cat (read)" "$n" sh -c 'cat "$1" >/dev/null' sh "$f"
				bench_time W5 stats "wc -l (lines)" "$n" wc -l "$f"
				;;
			esac
		done
	done
	unset REP
}
