# W6: train a logistic regression on 1,000,000 rows x 20 features
# (--quick 100,000): `mlops train --builtin logistic` (the data added as a
# dataset first, untimed) against scikit-learn's LogisticRegression(lbfgs)
# including pandas read_csv.  Held-out accuracy goes into the note.
W6_TITLE="logistic regression"

w6() {
	local rows=1000000
	[ "$QUICK" = 1 ] && rows=100000
	local f n t ws="$RUN/W6-mlops" tools=()
	f=$(data_train "$rows" 20 6)
	n=$(stat -c %s "$f")
	record_meta W6.rows "$rows"
	if mlops_needs W6 train "dataset add" train; then
		vc_init mlops "$ws"
		place "$f" "$ws/train.csv"
		(cd "$ws" && mlops dataset add train.csv --name train >/dev/null) && tools+=(mlops)
	fi
	if peer_can sklearn; then tools+=(sklearn); else record_skip W6 train sklearn "$WHY"; fi
	warm "$f"
	for ((REP = 1; REP <= REPS; REP++)); do
		for t in $(rotate "$REP" "${tools[@]}"); do
			case $t in
			mlops)
				(cd "$ws" && bench_time W6 train mlops "$n" "$MLOPS_BIN" train --force --builtin logistic -d train --target label)
				;;
			sklearn)
				bench_time W6 train "sklearn LogisticRegression(lbfgs)" "$n" \
					"$PY" "$BENCH_DIR/peers/sklearn_logistic.py" "$f" label &&
					bench_note "$(cat "$BENCH_LAST_OUT")"
				;;
			esac
		done
	done
	unset REP
	rm -rf "$ws"
}
