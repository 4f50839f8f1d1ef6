# W8: drift check of a new batch (1,000,000 x 20; --quick 100,000) against
# a registered model's baseline: `mlops monitor check` against a scipy
# script (KS, Wasserstein, PSI per column, both files read with pandas).
W8_TITLE="drift check"

w8() {
	local rows=1000000
	[ "$QUICK" = 1 ] && rows=100000
	local base cur n t tools=() ws="$RUN/W8-mlops" run
	base=$(data_train "$rows" 20 6)
	cur=$(data_train "$rows" 20 8)
	n=$(stat -c %s "$cur")
	if mlops_needs W8 check "dataset add" train register "monitor check"; then
		vc_init mlops "$ws"
		place "$base" "$ws/train.csv"
		run=$(cd "$ws" && mlops -q dataset add train.csv --name train >/dev/null &&
			git add -A >/dev/null && git -c user.name=bench -c user.email=bench@localhost commit -qm data &&
			mlops train --builtin logistic -d train --target label 2>&1 | grep -o 'r-[0-9a-f]*' | head -n 1)
		if [ -n "$run" ] && (cd "$ws" && mlops -q register clf --run "$run" >/dev/null); then
			tools+=(mlops)
		else
			record_skip W8 check mlops "could not train and register a model"
		fi
	fi
	if peer_can scipy; then tools+=(scipy); else record_skip W8 check scipy "$WHY"; fi
	warm "$base" "$cur"
	for ((REP = 1; REP <= REPS; REP++)); do
		for t in $(rotate "$REP" "${tools[@]}"); do
			case $t in
			mlops) (cd "$ws" && BENCH_OK_CODES="0 1" bench_time W8 check mlops "$n" "$MLOPS_BIN" monitor check clf --data "$cur" --target label) ;;
			scipy) bench_time W8 check "scipy ks_2samp+psi" "$n" "$PY" "$BENCH_DIR/peers/scipy_drift.py" "$base" "$cur" ;;
			esac
		done
	done
	unset REP
	rm -rf "$ws"
}
