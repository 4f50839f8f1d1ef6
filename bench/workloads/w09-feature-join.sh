# W9: point-in-time join of 1,000,000 entity rows against a feature table
# of 5,000,000 events (--quick 100,000 each): `mlops feature join` against
# pandas merge_asof (read, sort, join, write).
W9_TITLE="point-in-time join"

w9() {
	local rows=1000000 events=5000000
	[ "$QUICK" = 1 ] && rows=100000 events=100000
	local feat ent n t tools=() ws="$RUN/W9-mlops"
	feat="$DATA/features-$events-s9.csv"
	ent="$DATA/entities-$rows-s10.csv"
	[ -f "$feat" ] || "$PY" "$BENCH_DIR/gen.py" features "$feat" "$events" 9
	[ -f "$ent" ] || "$PY" "$BENCH_DIR/gen.py" entities "$ent" "$rows" 10
	n=$(stat -c %s "$feat")
	if mlops_needs W9 join "dataset add" "feature add" "feature materialize" "feature join"; then
		vc_init mlops "$ws"
		place "$feat" "$ws/events.csv"
		cat >"$ws/spend.json" <<'JSON'
{"name": "spend", "source": "events", "entity": "user", "timestamp": "ts",
 "features": [{"name": "spend", "column": "spend", "transform": "identity"},
              {"name": "visits", "column": "visits", "transform": "identity"}]}
JSON
		if (cd "$ws" && mlops -q dataset add events.csv --name events >/dev/null &&
			mlops -q feature add spend.json >/dev/null && mlops -q feature materialize spend >/dev/null); then
			tools+=(mlops)
		else
			record_skip W9 join mlops "could not define and materialize the feature set"
		fi
	fi
	if peer_can pandas; then tools+=(pandas); else record_skip W9 join pandas "$WHY"; fi
	warm "$feat" "$ent"
	for ((REP = 1; REP <= REPS; REP++)); do
		for t in $(rotate "$REP" "${tools[@]}"); do
			case $t in
			mlops) (cd "$ws" && bench_time W9 join mlops "$n" "$MLOPS_BIN" feature join spend --entities "$ent" --out "$RUN/W9-out.csv") ;;
			pandas) bench_time W9 join "pandas merge_asof" "$n" "$PY" "$BENCH_DIR/peers/pandas_asof.py" "$feat" "$ent" "$RUN/W9-out.csv" ;;
			esac
			rm -f "$RUN/W9-out.csv"
		done
	done
	unset REP
	rm -rf "$ws"
}
