#!/bin/bash
# soak-serve.sh - the REST server (mlops deploy serve) under abuse and load,
# run by hand with `make soak` (not part of make test: it takes a minute
# and two cores).  Everything talks to 127.0.0.1 only, and every loop is
# bounded in count and time.
#
#   1. malformed requests (bad JSON, bad CSV, wrong types, wrong methods,
#      unknown paths, lying Content-Length, garbage request lines) each get
#      a 4xx answer or a closed connection, never a crash;
#   2. oversized bodies (declared and chunked) get 413;
#   3. slow clients holding connections open do not stop others from being
#      answered, and are dropped after --timeout;
#   4. SOAK_SECONDS (default 60) of load, with wrk when installed (else
#      curl loops), mixing good and bad requests; the server's resident
#      memory is sampled every 5 s and must stay flat: the last sample at
#      most SOAK_RSS_GROWTH_KB (default 16384) above the one taken after
#      the first 10 s of load;
#   5. the server still answers and exits 0 on SIGTERM.
#
# Environment: MLOPS_BIN (the binary; default ./mlops), SOAK_SECONDS,
# SOAK_RSS_GROWTH_KB.  Ends with "N passed, N failed"; exit 1 on failure.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MLOPS_BIN=${MLOPS_BIN:-$ROOT/mlops}
SECONDS_LOAD=${SOAK_SECONDS:-60}
GROWTH_KB=${SOAK_RSS_GROWTH_KB:-16384}
MODEL=$ROOT/tests/fixtures/serve/mixed.json
REQ=$ROOT/tests/fixtures/serve/req_mixed_records.json
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlops-soak.XXXXXX")
passed=0
failed=0
PID=
trap 'test -n "$PID" && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM

ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { _d=$1; shift; if "$@"; then ok "$_d"; else bad "$_d"; fi; }

command -v curl >/dev/null || { echo "soak-serve: curl is needed" >&2; exit 2; }
cd "$WORK" || exit 2

"$MLOPS_BIN" deploy serve "$MODEL" --host 127.0.0.1 --port 0 --workers 2 \
	--max-body 65536 --timeout 3 --log "$WORK/requests.log" >serve.out 2>serve.err &
PID=$!
i=0
while ! grep -q "^serving" serve.out 2>/dev/null && test $i -lt 100; do
	kill -0 $PID 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
PORT=$(sed -n 's/^serving .*:\([0-9][0-9]*\)$/\1/p' serve.out)
if test -z "$PORT"; then
	cat serve.err >&2
	echo "soak-serve: the server did not start" >&2
	exit 2
fi
URL=http://127.0.0.1:$PORT
echo "# serving on $URL (pid $PID)"

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$PID/status 2>/dev/null; }
alive() { kill -0 $PID 2>/dev/null && test "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/ping")" = 200; }

# status METHOD PATH CONTENT-TYPE DATA-FILE: the answer's status
status() {
	curl -s -m 10 -o /dev/null -w '%{http_code}' -X "$1" -H "Content-Type: $3" -H "Expect:" \
		--data-binary "@$4" "$URL$2"
}

# raw TEXT: send bytes as they are, print the status of the answer (000: none)
raw() {
	printf "$1" >raw.req
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || { echo 000; return; }
	cat raw.req >&3
	timeout 5 head -c 12 <&3 | sed -n 's/^HTTP\/1\.[01] \([0-9][0-9][0-9]\).*/\1/p' | grep . || echo 000
	exec 3<&- 3>&-
}

# 1. malformed requests
printf '{"instances": [[1, 2' >trunc.json
printf '{"dataframe_split": {"columns": ["x1"], "data": [[1]]}}' >missing.json
printf '{"instances": [["a", null, true, {}]]}' >types.json
printf 'x1,x2,const,color\n1,2\n"open' >bad.csv
printf '\377\376garbage\000' >bin.dat
printf '{"inputs": [{"name": "x1", "shape": [-1, 99999999999], "datatype": "FP64", "data": []}]}' >v2.json
all4xx=1
for round in $(seq 1 25); do
	for t in "POST /invocations application/json trunc.json" \
		 "POST /invocations application/json missing.json" \
		 "POST /invocations application/json types.json" \
		 "POST /invocations text/csv bad.csv" \
		 "POST /invocations application/octet-stream bin.dat" \
		 "POST /v2/models/mixed/infer application/json v2.json" \
		 "GET /invocations application/json trunc.json" \
		 "POST /no/such/path application/json trunc.json"; do
		set -- $t
		s=$(status "$1" "$2" "$3" "$4")
		case $s in 4??) ;; *) all4xx=0; echo "# $t -> $s" ;; esac
	done
	test $round -gt 3 && continue
	# (a version it does not speak is 505, as HTTP says)
	for r in 'BREW /pot HTTP/1.1\r\n\r\n' 'GET /\001\377 HTTP/1.1\r\n\r\n' \
		 'GET /ping HTTP/7.0\r\n\r\n' 'GET /ping\r\n\r\n' '\r\n\r\n\r\n' \
		 'POST /invocations HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}' \
		 'POST /invocations HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}'; do
		s=$(raw "$r")
		case $s in 000|4??|505) ;; *) all4xx=0; echo "# raw '$r' -> $s" ;; esac
	done
done
check "200 malformed requests get 4xx, garbage gets 4xx or a close" test $all4xx = 1
check "the server is alive after malformed requests" alive

# 2. oversized bodies
head -c 200000 /dev/zero | tr '\0' '1' >big.json
check "a body over --max-body gets 413" test "$(status POST /invocations application/json big.json)" = 413
s=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" \
	-H "Transfer-Encoding: chunked" --data-binary @big.json "$URL/invocations")
check "a chunked body over --max-body gets 413 ($s)" test "$s" = 413
s=$(raw 'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n')
check "a declared length over --max-body gets 413 at once ($s)" test "$s" = 413
check "the server is alive after oversized bodies" alive

# 3. slow clients: 40 connections that send half a request and wait
slow_pids=
for i in $(seq 1 40); do
	( exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'POST /invocations HTTP/1.1\r\nHost: x\r\n' >&3 &&
	  sleep 8 ) 2>/dev/null &
	slow_pids="$slow_pids $!"
done
sleep 0.5
t0=$(date +%s%N)
s=$(status POST /invocations application/json "$REQ")
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check "with 40 slow clients connected a request is answered ($s) in ${ms} ms" \
	test "$s" = 200 -a $ms -lt 2000
sleep 4
n=$(ss -tn state established "( sport = :$PORT )" 2>/dev/null | tail -n +2 | wc -l)
check "slow clients are dropped after --timeout ($n connections left)" test "$n" -lt 5
for p in $slow_pids; do kill $p 2>/dev/null; done
wait $slow_pids 2>/dev/null

# 4. load
cat >post.lua <<EOF
local bodies = {}
local f = io.open("$REQ", "rb"); bodies[1] = f:read("*a"); f:close()
bodies[2] = '{"instances": [[1, 2'
bodies[3] = '{"instances": [["a", null, true]]}'
local n = 0
request = function()
	n = n + 1
	local b = bodies[(n % 10 == 0) and 2 or ((n % 10 == 5) and 3 or 1)]
	return wrk.format("POST", "/invocations", {["Content-Type"] = "application/json"}, b)
end
EOF
(
	i=0
	while test $i -lt $((SECONDS_LOAD / 5)); do
		sleep 5
		rss_kb >>rss.txt
		i=$((i + 1))
	done
) &
sampler=$!
if command -v wrk >/dev/null; then
	echo "# wrk -t2 -c16 -d${SECONDS_LOAD}s"
	wrk -t2 -c16 -d"${SECONDS_LOAD}s" -s post.lua "$URL" >wrk.out 2>&1
	sed 's/^/# /' wrk.out
	reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' wrk.out)
else
	echo "# no wrk: curl loops for ${SECONDS_LOAD}s"
	end=$(( $(date +%s) + SECONDS_LOAD ))
	loaders=
	for w in 1 2 3 4; do
		( n=0; while test "$(date +%s)" -lt $end; do
			curl -s -m 5 -o /dev/null -H "Content-Type: application/json" --data-binary "@$REQ" \
				"$URL/invocations"; n=$((n + 1)); done; echo $n >load.$w ) &
		loaders="$loaders $!"
	done
	wait $loaders
	reqs=$(cat load.* | awk '{s += $1} END {print s}')
fi
wait $sampler
samples=$(tr '\n' ' ' <rss.txt)
echo "# ${reqs:-?} requests; resident memory every 5 s (KiB): $samples"
first=$(sed -n 2p rss.txt)
last=$(tail -n 1 rss.txt)
check "requests were answered under load (${reqs:-0})" test "${reqs:-0}" -gt 0
check "memory is flat under load: $first KiB after 10 s, $last KiB at the end" \
	test -n "$first" -a -n "$last" -a $((last - first)) -le "$GROWTH_KB"
check "the server is alive after the load" alive

# 5. a clean stop
kill -TERM $PID
wait $PID
rc=$?
PID=
check "the server exits 0 on SIGTERM" test $rc = 0

echo "$passed passed, $failed failed"
test $failed = 0
