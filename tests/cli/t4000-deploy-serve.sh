#!/bin/sh
# mlops deploy serve: KServe V2 and MLflow scoring answer the model's own
# predictions, metrics, the request log, bad requests, reload, predictor
# processes.  Every server binds 127.0.0.1 on a free port and is stopped
# by the test that started it.
. "$(dirname "$0")/lib.sh"

FIX="$TEST_ROOT/tests/fixtures/serve"
EX="$TEST_ROOT/examples/predictor"

. "$TEST_ROOT/tests/cli/serve-lib.sh"

test_expect_success 'deploy -h and deploy serve -h work outside a repository' '
	mlops deploy -h >out && grep -q "deploy serve REV|PATH" out &&
	mlops deploy serve -h >out && grep -q -- "--max-body" out &&
	test_expect_code 2 mlops deploy 2>err && grep -q usage: err
'

test_expect_success 'a number option out of range names the range it takes' '
	for o in "--workers 0:1 to 256" "--workers 257:1 to 256" \
		"--max-body 0:1 to 1099511627776" "--max-body 1099511627777:1 to 1099511627776" \
		"--timeout 0:1 to 86400" "--predict-timeout 0:1 to 86400000" \
		"--port 65536:0 to 65535" "--workers -1:1 to 256"; do
		test_expect_code 2 mlops deploy serve "$FIX/mixed.json" ${o%%:*} 2>err &&
		grep -q "expected a whole number from ${o#*:}\$" err &&
		test "$(wc -l <err)" = 1 || return 1
	done
'

test_expect_success 'serve a model file: health, metadata, readiness' '
	start_server "$FIX/mixed.json" &&
	curl -sf "$(url /v2/health/live)" | grep -q "\"live\":true" &&
	curl -sf "$(url /v2/health/ready)" | grep -q "\"ready\":true" &&
	curl -sf "$(url /ping)" >/dev/null && curl -sf "$(url /health)" >/dev/null &&
	curl -sf "$(url /v2/models/mixed)" >meta &&
	grep -q "\"inputs\":\[{\"name\":\"x1\",\"datatype\":\"FP64\"" meta &&
	grep -q "{\"name\":\"color\",\"datatype\":\"BYTES\"" meta &&
	curl -sf "$(url /v2/models/mixed/ready)" | grep -q "\"ready\":true" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$(url /v2/models/other)")" = 404 &&
	stop_server && grep -q "^mlops: stopped:" serve.err
'

for m in breast mixed wine; do
test_expect_success "both protocols answer the $m model's own predictions" '
	start_server "$FIX/'$m'.json" &&
	for kind in split records instances; do
		post /invocations application/json "$FIX/req_'$m'_$kind.json" >ans &&
		test "$(cat status)" = 200 &&
		predictions <ans >got && same_numbers got "$FIX/expected_'$m'.txt" || return 1
	done &&
	post /invocations text/csv "$FIX/rows_'$m'.csv" >ans && test "$(cat status)" = 200 &&
	predictions <ans >got && same_numbers got "$FIX/expected_'$m'.txt" &&
	post /v2/models/'$m'/infer application/json "$FIX/req_'$m'_v2.json" >ans &&
	test "$(cat status)" = 200 &&
	grep -q "\"model_name\":\"'$m'\"" ans && grep -q "\"id\":\"t-'$m'\"" ans &&
	predictions <ans >got && same_numbers got "$FIX/expected_'$m'.txt" &&
	stop_server
'
done

test_expect_success 'a CSV body may start with a UTF-8 byte order mark, as a spreadsheet writes' '
	start_server "$FIX/mixed.json" &&
	{ printf "\357\273\277" && cat "$FIX/rows_mixed.csv"; } >bom.csv &&
	post /invocations text/csv bom.csv >ans && test "$(cat status)" = 200 &&
	predictions <ans >got && same_numbers got "$FIX/expected_mixed.txt" &&
	printf "\357\273\277x1,x2,const,color\n1,1,0,r\355\240\200\n" >bombad.csv &&
	post /invocations text/csv bombad.csv >ans && test "$(cat status)" = 400 &&
	grep -q "malformed CSV: invalid UTF-8 at byte 28" ans &&
	stop_server
'

test_expect_success 'classification answers carry probabilities that sum to one' '
	start_server "$FIX/wine.json" &&
	post /v2/models/wine/infer application/json "$FIX/req_wine_v2.json" >ans &&
	grep -q "\"name\":\"predict_proba\",\"shape\":\[20,3\]" ans &&
	sed "s/.*\"predict_proba\",[^[]*\[[^]]*\],\"datatype\":\"FP64\",\"data\":\[\([^]]*\)\].*/\1/" ans |
		tr "," "\n" | awk "{ s += \$1; if (NR % 3 == 0) { d = s - 1; if (d < 0) d = -d; if (d > 1e-12) bad = 1; s = 0 } }
			END { exit bad || NR != 60 }" &&
	stop_server
'

test_expect_success 'bad requests get 4xx with an error object, and the server goes on' '
	start_server "$FIX/mixed.json" --max-body 2000 &&
	printf "{\"dataframe_split\": " >bad1 &&
	post /invocations application/json bad1 >ans && test "$(cat status)" = 400 &&
	grep -q "{\"error\":\"malformed JSON" ans &&
	printf "{\"dataframe_split\": {\"columns\": [\"x1\"], \"data\": [[1]]}}" >bad2 &&
	post /invocations application/json bad2 >ans && test "$(cat status)" = 400 &&
	grep -q "missing column .x2." ans &&
	printf "{\"instances\": [{\"x1\": \"one\", \"x2\": 1, \"const\": 0, \"color\": \"red\"}]}" >bad3 &&
	post /invocations application/json bad3 >ans && test "$(cat status)" = 400 &&
	grep -q "column .x1. holds a string, expected a number" ans &&
	printf "x1,x2\n1\n" >bad4.csv &&
	post /invocations text/csv bad4.csv >ans && test "$(cat status)" = 400 &&
	post /invocations application/xml bad4.csv >ans && test "$(cat status)" = 415 &&
	head -c 5000 /dev/zero | tr "\0" " " >big &&
	post /invocations application/json big >ans && test "$(cat status)" = 413 &&
	grep -q "over the limit" ans &&
	curl -s -o /dev/null -w "%{http_code}" -X DELETE "$(url /invocations)" >st && test "$(cat st)" = 405 &&
	curl -s -o /dev/null -w "%{http_code}" "$(url /nope)" >st && test "$(cat st)" = 404 &&
	post /invocations application/json "$FIX/req_mixed_split.json" >/dev/null &&
	test "$(cat status)" = 200 &&
	stop_server
'

test_expect_success 'invalid UTF-8, NUL, trailing data and two request forms get 400' '
	start_server "$FIX/mixed.json" --log strict.log &&
	printf "{\"instances\": [{\"x1\": 1, \"x2\": 1, \"const\": 0, \"color\": \"r\\\\u0000d\"}]}" >nul.json &&
	post /invocations application/json nul.json >ans && test "$(cat status)" = 400 &&
	grep -q "u0000" ans &&
	printf "{\"instances\": [{\"x1\": 1, \"x2\": 1, \"const\": 0, \"color\": \"r\377d\"}]}" >utf.json &&
	post /invocations application/json utf.json >ans && test "$(cat status)" = 400 &&
	grep -q "invalid UTF-8 at byte 57" ans &&
	printf "{\"inputs\":[{\"name\":\"color\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\300\257\"]}]}" >v2utf.json &&
	post /v2/models/mixed/infer application/json v2utf.json >ans && test "$(cat status)" = 400 &&
	grep -q "invalid UTF-8" ans &&
	printf "x1,x2,const,color\n1,1,0,r\355\240\200\n" >utf.csv &&
	post /invocations text/csv utf.csv >ans && test "$(cat status)" = 400 &&
	grep -q "malformed CSV: invalid UTF-8" ans &&
	printf "{\"instances\": [{\"x1\": 1, \"x2\": 1, \"const\": 0, \"color\": \"r\303\251d\"}]} \n" >ok.json &&
	post /invocations application/json ok.json >ans && test "$(cat status)" = 200 &&
	printf "{\"instances\": [{\"x1\": 1, \"x2\": 1, \"const\": 0, \"color\": \"red\"}]} trailing" >trail.json &&
	post /invocations application/json trail.json >ans && test "$(cat status)" = 400 &&
	grep -q "data after the JSON value at byte 64" ans &&
	printf "{\"dataframe_split\": {\"columns\": [\"x1\",\"x2\",\"const\",\"color\"], \"data\": [[1,1,0,\"red\"]]}, \"dataframe_records\": [{\"x1\": 1}]}" >both.json &&
	post /invocations application/json both.json >ans && test "$(cat status)" = 400 &&
	grep -q "both .dataframe_split. and .dataframe_records." ans &&
	stop_server &&
	test $(wc -l <strict.log) = 1 &&
	/usr/bin/python3 -c "import json,sys; [json.loads(l) for l in open(\"strict.log\", encoding=\"utf-8\")]" 2>/dev/null ||
	{ ! test -x /usr/bin/python3 && test $(wc -l <strict.log) = 1; }
'

test_expect_success '405 names the allowed methods; V2 checks the content type like MLflow' '
	start_server "$FIX/mixed.json" &&
	curl -s -D hdr -o body -X DELETE "$(url /invocations)" &&
	grep -q "^HTTP/1.1 405" hdr && grep -qi "^Allow: POST" hdr &&
	curl -s -D hdr -o body -X POST -d x "$(url /ping)" &&
	grep -q "^HTTP/1.1 405" hdr && grep -qi "^Allow: GET, HEAD" hdr &&
	curl -s -D hdr -o body "$(url /v2/models/mixed/infer)" &&
	grep -qi "^Allow: POST" hdr &&
	curl -s -D hdr -o body "$(url /ping)" && ! grep -qi "^Allow:" hdr &&
	post /v2/models/mixed/infer text/csv "$FIX/rows_mixed.csv" >ans &&
	test "$(cat status)" = 415 && grep -q "send application/json\"" ans &&
	post /v2/models/mixed/infer application/x-www-form-urlencoded "$FIX/req_mixed_v2.json" >ans &&
	test "$(cat status)" = 415 &&
	post /v2/models/mixed/infer "application/json; charset=utf-8" "$FIX/req_mixed_v2.json" >ans &&
	test "$(cat status)" = 200 &&
	curl -s -o body -w "%{http_code}" -H "Content-Type:" --data-binary @"$FIX/req_mixed_v2.json" \
		"$(url /v2/models/mixed/infer)" >st && test "$(cat st)" = 200 &&
	curl -s -o body -w "%{http_code}" -H "Content-Type:" --data-binary @"$FIX/req_mixed_split.json" \
		"$(url /invocations)" >st && test "$(cat st)" = 200 &&
	stop_server
'

if test -x /usr/bin/python3; then
test_expect_success 'requests that break HTTP get libmicrohttpd'"'"'s status; the server goes on' '
	cat >raw.py <<-\EOF &&
	import socket, sys
	def ask(data):
	    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	    s.settimeout(5)
	    out = b""
	    try:
	        s.sendall(data)
	    except OSError:
	        pass
	    while True:
	        try:
	            b = s.recv(65536)
	        except OSError:
	            break
	        if not b:
	            break
	        out += b
	    return out.split(b"\r\n", 1)[0].decode()
	print(ask(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}"))
	print(ask(b"GET /ping\r\n\r\n"))
	print(ask(b"GET /ping HTTP/2.0\r\nHost: x\r\n\r\n"))
	print(ask(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"))
	EOF
	start_server "$FIX/mixed.json" &&
	/usr/bin/python3 raw.py $PORT >raw.out &&
	printf "%s\n" "HTTP/1.1 400 Bad Request" "HTTP/1.1 400 Bad Request" \
		"HTTP/1.1 505 HTTP Version Not Supported" "HTTP/1.1 431 Request Header Fields Too Large" >expect &&
	test_cmp expect raw.out &&
	curl -sf "$(url /ping)" >/dev/null &&
	stop_server
'
fi

test_expect_success 'values of the wrong type and datatypes the model does not take get 400' '
	start_server "$FIX/mixed.json" --log types.log &&
	printf "{\"dataframe_split\": {\"columns\": [\"x1\",\"x2\",\"const\",\"color\"], \"data\": [[\"1.5\",1,0,\"red\"]]}}" >t1.json &&
	post /invocations application/json t1.json >ans && test "$(cat status)" = 400 &&
	grep -q "row 1: column .x1. holds a string, expected a number" ans &&
	printf "{\"instances\": [{\"x1\": 1, \"x2\": true, \"const\": 0, \"color\": \"red\"}]}" >t2.json &&
	post /invocations application/json t2.json >ans && test "$(cat status)" = 400 &&
	grep -q "column .x2. holds a boolean" ans &&
	printf "{\"inputs\":[{\"name\":\"x1\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"0.5\"]},{\"name\":\"x2\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"const\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0]},{\"name\":\"color\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"red\"]}]}" >t3.json &&
	post /v2/models/mixed/infer application/json t3.json >ans && test "$(cat status)" = 400 &&
	grep -q "input .x1. has datatype BYTES, the model takes FP64" ans &&
	sed "s/\"BYTES\",\"data\":\[\"red\"\]/\"FP64\",\"data\":[1]/; s/\"BYTES\",\"data\":\[\"0.5\"\]/\"FP64\",\"data\":[0.5]/" t3.json >t4.json &&
	post /v2/models/mixed/infer application/json t4.json >ans && test "$(cat status)" = 400 &&
	grep -q "input .color. has datatype FP64, the model takes BYTES" ans &&
	printf "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"BYTES\",\"data\":[\"1\",\"1\",\"0\",\"red\"]}]}" >t5.json &&
	post /v2/models/mixed/infer application/json t5.json >ans && test "$(cat status)" = 400 &&
	grep -q "column .x1. holds a string" ans &&
	printf "{\"inputs\":[{\"name\":\"x1\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1,2]},{\"name\":\"x2\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}" >t6.json &&
	post /v2/models/mixed/infer application/json t6.json >ans && test "$(cat status)" = 400 &&
	grep -q "input .x2. has shape \[1\], expected \[2\] or \[2, 1\]" ans &&
	printf "x1,x2,const,color\n1.5,1,0,red\n" >ok.csv &&
	post /invocations text/csv ok.csv >ans && test "$(cat status)" = 200 &&
	stop_server && test $(wc -l <types.log) = 1
'

test_expect_success 'a V2 value its integer or floating-point datatype cannot hold gets 400' '
	start_server "$FIX/mixed.json" &&
	v2x1() {
		printf "{\"inputs\":[{\"name\":\"x1\",\"shape\":[1],\"datatype\":\"%s\",\"data\":[%s]},{\"name\":\"x2\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"const\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0]},{\"name\":\"color\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"red\"]}]}" "$1" "$2" >dt.json &&
		post /v2/models/mixed/infer application/json dt.json
	} &&
	for c in UINT8:0 UINT8:255 UINT16:65535 UINT32:4294967295 UINT64:18446744073709551615 \
		INT8:-128 INT8:127 INT16:-32768 INT32:2147483647 INT32:-2147483648 INT32:3.0 \
		INT64:9223372036854775807 INT64:-9223372036854775808 INT8:null \
		FP16:65504 FP16:-65519 FP32:3.4028235e38 BF16:3.38e38 FP64:1e300; do
		v2x1 ${c%%:*} ${c#*:} >ans && test "$(cat status)" = 200 || { echo "$c: $(cat ans)"; return 1; }
	done &&
	for c in UINT8:-5:0 UINT8:256:0 UINT8:3.5:0 UINT16:65536:0 UINT32:4294967296:0 \
		UINT32:-1:0 UINT64:-1:0 UINT64:1e+20:0 INT8:128:-128 INT8:-129:-128 \
		INT16:32768:-32768 INT32:5.5:-2147483648 INT32:2147483648:-2147483648 \
		INT64:0.5:-9223372036854775808 INT64:1e+19:-9223372036854775808; do
		dt=${c%%:*} v=${c#*:} && v=${v%:*} &&
		v2x1 $dt $v >ans && test "$(cat status)" = 400 &&
		grep -q "input .x1. of datatype $dt holds $v at position 0, not a whole number from ${c##*:} to " ans ||
		{ echo "$c: $(cat ans)"; return 1; }
	done &&
	v2x1 FP16 65520 >ans && test "$(cat status)" = 400 &&
	grep -q "input .x1. of datatype FP16 holds 65520 at position 0, beyond its largest value 65504" ans &&
	v2x1 FP32 -1e39 >ans && test "$(cat status)" = 400 &&
	grep -q "datatype FP32 holds -1e+39 at position 0, beyond its largest value 3.40282346638528" ans &&
	v2x1 BF16 3.4e38 >ans && test "$(cat status)" = 400 &&
	grep -q "datatype BF16 holds 3.4e+38 at position 0, beyond" ans &&
	printf "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"UINT8\",\"data\":[5,3,1,300]}]}" >dt.json &&
	post /v2/models/mixed/infer application/json dt.json >ans && test "$(cat status)" = 400 &&
	grep -q "input .x. of datatype UINT8 holds 300 at position 3, not a whole number from 0 to 255" ans &&
	printf "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"INT32\",\"data\":[5.5,1,1,1]}]}" >dt.json &&
	post /v2/models/mixed/infer application/json dt.json >ans && test "$(cat status)" = 400 &&
	grep -q "input .x. of datatype INT32 holds 5.5 at position 0" ans &&
	stop_server
'

test_expect_success 'a slow client is cut off without blocking others' '
	test_have_cmd bash || return 0
	start_server "$FIX/mixed.json" --timeout 1 --workers 1 || return 1
	bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT &&
		printf \"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\" >&3 &&
		sleep 2.5 && timeout 5 cat <&3 >slow.out" &
	SLOW=$!
	sleep 0.3 &&
	post /invocations application/json "$FIX/req_mixed_split.json" >/dev/null &&
	test "$(cat status)" = 200 &&
	wait $SLOW &&
	stop_server
'

if test -x /usr/bin/python3 && test "$(ulimit -n)" != unlimited && test "$(ulimit -n)" -ge 2600; then
test_expect_success '1,100 idle clients with half a request do not lock others out' '
	cat >idle.py <<-\EOF &&
	import socket, sys, time, urllib.request
	port = int(sys.argv[1])
	socks = []
	for i in range(1100):
	    s = socket.create_connection(("127.0.0.1", port))
	    s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	    socks.append(s)
	time.sleep(0.2)
	print(urllib.request.urlopen("http://127.0.0.1:%d/ping" % port, timeout=3).status)
	EOF
	start_server "$FIX/mixed.json" --workers 2 &&
	/usr/bin/python3 idle.py $PORT >idle.out &&
	test "$(cat idle.out)" = 200 &&
	stop_server
'
else
test_skip '1,100 idle clients (needs python3 and ulimit -n of 2600)'
fi

test_expect_success 'metrics count requests, statuses, rows and name the model' '
	start_server "$FIX/breast.json" &&
	post /invocations application/json "$FIX/req_breast_split.json" >/dev/null &&
	post /invocations text/csv "$FIX/rows_breast.csv" >/dev/null &&
	printf "{" >bad && post /invocations application/json bad >/dev/null &&
	curl -sf "$(url /metrics)" >m &&
	grep -q "^mlops_requests_total{code=\"200\"} 2$" m &&
	grep -q "^mlops_requests_total{code=\"400\"} 1$" m &&
	grep -q "^mlops_rows_predicted_total 40$" m &&
	grep -q "^mlops_request_duration_seconds_bucket{le=\"+Inf\"} 3$" m &&
	grep -q "^mlops_request_duration_seconds_count 3$" m &&
	grep -q "^mlops_model_info{name=\"breast\",version=\"[0-9a-f]\{12\}\",kind=\"builtin\"} 1$" m &&
	stop_server
'

test_expect_success 'each prediction is logged as a JSON line' '
	start_server "$FIX/mixed.json" --log requests.log &&
	post /invocations application/json "$FIX/req_mixed_records.json" >/dev/null &&
	post /v2/models/mixed/infer application/json "$FIX/req_mixed_v2.json" >/dev/null &&
	printf "{" >bad && post /invocations application/json bad >/dev/null &&
	stop_server &&
	test $(wc -l <requests.log) = 2 &&
	head -1 requests.log >l1 &&
	grep -q "^{\"time\":\"20[0-9-]*T[0-9:.]*Z\",\"model\":\"mixed\",\"version\":\"[0-9a-f]*\",\"protocol\":\"mlflow\"" l1 &&
	grep -q "\"inputs\":{\"columns\":\[\"x1\",\"x2\",\"const\",\"color\"\],\"data\":\[\[" l1 &&
	grep -q "\"latency_ms\":" l1 &&
	predictions <l1 >got && same_numbers got "$FIX/expected_mixed.txt" &&
	tail -1 requests.log | grep -q "\"protocol\":\"v2\""
'

test_expect_success 'the log writes numbers that read back: DBL_MAX is not inf' '
	start_server "$FIX/mixed.json" --log max.log &&
	printf "{\"instances\": [{\"x1\": 1.7976931348623157e308, \"x2\": 0.1, \"const\": 0, \"color\": \"red\"}]}" >max.json &&
	post /invocations application/json max.json >/dev/null &&
	printf "x1,x2,const,color\n1.7976931348623157e308,0.1,0,red\n" >max.csv &&
	post /invocations text/csv max.csv >/dev/null &&
	stop_server && test $(wc -l <max.log) = 2 &&
	test $(grep -c "\"data\":\[\[1.7976931348623157e+308,0.1,0,\"red\"\]\]" max.log) = 2
'

test_expect_success 'SIGHUP reloads the model without stopping' '
	mkdir -p hup && cp "$FIX/mixed.json" hup/model.json &&
	start_server hup &&
	v1=$(sed -n "s/^serving hup \([0-9a-f]*\) .*/\1/p" serve.out) && test -n "$v1" &&
	cp "$FIX/wine.json" hup/new.json && mv hup/new.json hup/model.json &&
	reload_server &&
	curl -sf "$(url /v2/models/hup)" >meta &&
	! grep -q "$v1" meta &&
	post /invocations application/json "$FIX/req_wine_split.json" >ans &&
	predictions <ans >got && same_numbers got "$FIX/expected_wine.txt" &&
	grep -q "reloaded" serve.err &&
	printf "{" >hup/model.json && reload_server &&
	grep -q "reload failed, still serving" serve.err &&
	post /invocations application/json "$FIX/req_wine_split.json" >/dev/null &&
	test "$(cat status)" = 200 &&
	stop_server
'

test_expect_success 'a switched current link is served without a signal' '
	mlops -q init &&
	git config -f .mlops/config deploy.live.type dir &&
	git config -f .mlops/config deploy.live.path deployed/live &&
	mkdir -p a b && cp "$FIX/mixed.json" a/model.json && cp "$FIX/breast.json" b/model.json &&
	mlops -q deploy a live &&
	start_server live &&
	grep -q "^serving a " serve.out &&
	mlops -q deploy b live &&
	for i in $(seq 1 50); do
		curl -sf "$(url /v2/models/b)" >/dev/null && break; sleep 0.1
	done &&
	curl -sf "$(url /v2/models/b)" >/dev/null &&
	post /invocations text/csv "$FIX/rows_breast.csv" >ans &&
	predictions <ans >got && same_numbers got "$FIX/expected_breast.txt" &&
	stop_server
'

test_expect_success 'a shell predictor process answers through both protocols' '
	start_server "$EX/shell" &&
	printf "a,b\n1,2.5\n3,4\n" >rows.csv &&
	post /invocations text/csv rows.csv >ans && test "$(cat status)" = 200 &&
	test "$(cat ans)" = "{\"predictions\":[3.5,7]}" &&
	printf "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1,2]},{\"name\":\"b\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[10,20]}]}" >v2.json &&
	post /v2/models/row-sum/infer application/json v2.json >ans &&
	grep -q "\"data\":\[11,22\]" ans &&
	grep -q "\"name\":\"predict\",\"shape\":\[2\],\"datatype\":\"FP64\"" ans &&
	curl -sf "$(url /v2/models/row-sum)" >meta &&
	grep -q "\"inputs\":\[\],\"outputs\":\[\]" meta && ! grep -q "datatype" meta &&
	stop_server &&
	! pgrep -f "sh predict.sh" -P $SERVER_PID >/dev/null
'

# Under valgrind the server's limit of open files is valgrind's (it keeps
# some descriptors above the one it shows the program), so only the count
# of predictor starts is checked there.
test_expect_success 'predictors, restarted or reloaded, keep the limit of open files the server had' '
	ulimit -S -n 256 && test "$(ulimit -n)" = 256 &&
	mkdir -p lim && printf "%s\n" "ulimit -n >>\"\$LIMITS_OUT\"" \
		"IFS= read -r line && echo \"{\\\"predictions\\\": [1]}\"" >lim/predict.sh &&
	echo "{\"name\": \"lim\", \"version\": \"1\", \"predict\": \"sh predict.sh\"}" >lim/record.json &&
	LIMITS_OUT=$PWD/limits && export LIMITS_OUT && rm -f limits &&
	start_server lim --workers 1 &&
	printf "a\n1\n" >one.csv &&
	post /invocations text/csv one.csv >/dev/null && test "$(cat status)" = 200 &&
	post /invocations text/csv one.csv >/dev/null && test "$(cat status)" = 200 &&
	reload_server &&
	post /invocations text/csv one.csv >/dev/null && test "$(cat status)" = 200 &&
	stop_server &&
	cat limits && test $(wc -l <limits) -ge 3 &&
	{ test "${MLOPS_VALGRIND:-}" = 1 || test "$(sort -u limits)" = 256; }
'

test_expect_success 'the summary at SIGTERM counts requests that finish while draining' '
	mkdir -p slow && printf "%s\n" "while IFS= read -r line; do sleep 1; echo \"{\\\"predictions\\\": [1]}\"; done" >slow/predict.sh &&
	echo "{\"name\": \"slow\", \"version\": \"1\", \"predict\": \"sh predict.sh\"}" >slow/record.json &&
	start_server slow --workers 1 &&
	printf "a\n1\n" >one.csv &&
	{ curl -s -o drain.ans -w "%{http_code}" -H "Content-Type: text/csv" --data-binary @one.csv "$(url /invocations)" >drain.st & } &&
	sleep 0.4 && stop_server && wait &&
	test "$(cat drain.st)" = 200 &&
	grep -q "^mlops: stopped: 1 request (0 errors), 1 row predicted" serve.err
'

if /usr/bin/python3 -c "import sklearn, pandas" 2>/dev/null; then
test_expect_success 'the Python predictor answers what scikit-learn predicts' '
	/usr/bin/python3 "$EX/python/train.py" "$TEST_ROOT/tests/fixtures/learn/breast_cancer.csv" target skl &&
	/usr/bin/python3 -c "
import pickle, pandas as pd
b = pickle.load(open(\"skl/model.pkl\", \"rb\"))
df = pd.read_csv(\"$FIX/rows_breast.csv\")
for p in b[\"model\"].predict(df[b[\"columns\"]].to_numpy(dtype=float)): print(p)
" >want &&
	start_server skl --workers 2 --predict-timeout 60000 &&
	post /invocations text/csv "$FIX/rows_breast.csv" >ans && test "$(cat status)" = 200 &&
	predictions <ans >got && test_cmp want got &&
	post /v2/models/sklearn-logistic/infer application/json "$FIX/req_breast_v2.json" >ans &&
	predictions <ans >got && test_cmp want got &&
	printf "{\"instances\": [{\"a\": 1}]}" >bad.json &&
	post /invocations application/json bad.json >ans && test "$(cat status)" = 400 &&
	grep -q "missing column" ans &&
	stop_server
'
else
test_skip 'the Python predictor (python3-sklearn is not installed)'
fi

test_expect_success 'serve refuses what it cannot serve' '
	test_expect_code 3 mlops deploy serve nothing-here 2>err &&
	test_expect_code 3 mlops deploy serve iris@v1.0.0 2>err &&
	grep -q "not found" err &&
	mkdir -p empty && test_expect_code 4 mlops deploy serve empty 2>err &&
	grep -q "neither model.json nor a predictor command" err &&
	test_expect_code 2 mlops deploy serve "$FIX/mixed.json" --port 70000 2>err &&
	test_expect_code 2 mlops deploy serve "$FIX/mixed.json" --workers 0 2>err
'

test_done
