# W7: REST inference.  A logistic model trained in-process on the W6 table
# (--quick sized), registered, served by `mlops deploy serve`, loaded with
# wrk (2 threads, 16 connections, 10 s; --quick 3 s) posting one KServe V2
# row per request.  The row's "wall" is the median request latency; the
# note holds requests per second.  No peer is installable here (MLflow
# serving needs PyPI).
W7_TITLE="model serving"

w7() {
	local rows=100000 dur=10s port=18080
	[ "$QUICK" = 1 ] && dur=3s
	mlops_needs W7 "infer (wrk)" "dataset add" train register "deploy serve" || return 0
	peer_can wrk || { record_skip W7 "infer (wrk)" mlops "$WHY"; return 0; }
	local f ws="$RUN/W7-mlops" run pid body
	f=$(data_train "$rows" 20 6)
	vc_init mlops "$ws"
	place "$f" "$ws/train.csv"
	run=$(cd "$ws" && mlops -q dataset add train.csv --name train >/dev/null &&
		git add -A >/dev/null && git -c user.name=bench -c user.email=bench@localhost commit -qm data &&
		mlops train --builtin logistic -d train --target label 2>&1 | grep -o 'r-[0-9a-f]*' | head -n 1)
	if [ -z "$run" ] || ! (cd "$ws" && mlops -q register clf --run "$run" >/dev/null); then
		record_skip W7 "infer (wrk)" mlops "could not train and register a model"
		rm -rf "$ws"
		return 0
	fi
	(cd "$ws" && exec "$MLOPS_BIN" deploy serve clf --port "$port" >"$RUN/log/W7-serve.log" 2>&1) &
	pid=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
		sleep 0.1
	done
	body=$(awk -F, 'NR == 2 { printf "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,%d],\"datatype\":\"FP64\",\"data\":[", NF - 1;
		for (i = 1; i < NF; i++) printf "%s%s", $i, (i < NF - 1 ? "," : ""); printf "]}]}" }' "$f")
	cat >"$RUN/W7-post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA
	for ((REP = 1; REP <= REPS; REP++)); do
		local out="$RUN/log/W7-wrk-$REP.txt" p50 rps
		wrk -t2 -c16 -d"$dur" --latency -s "$RUN/W7-post.lua" "http://127.0.0.1:$port/v2/models/clf/infer" >"$out" 2>&1
		p50=$(awk '$1 == "50%" { v = $2; if (v ~ /us$/) v = v / 1e6; else if (v ~ /ms$/) v = v / 1e3; else v = v + 0; print v }' "$out")
		rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
		row sample W7 "infer (wrk)" mlops "$REP" "${p50:-0}" "" 0 "" "" \
			"wrk -t2 -c16 -d$dur --latency -s post.lua http://127.0.0.1:$port/v2/models/clf/infer" "$rps req/s"
		say "  W7 infer mlops: ${rps:-?} req/s, p50 ${p50:-?} s"
	done
	unset REP
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -rf "$ws"
}
