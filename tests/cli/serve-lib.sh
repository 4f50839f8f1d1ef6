# serve-lib.sh - helpers for the tests that run `mlops deploy serve`: start
# it on 127.0.0.1 and a free port (under valgrind when MLOPS_VALGRIND=1),
# stop it, send requests, compare predictions.  Sourced after lib.sh.

# start_server ARGS...: serve in the background on a free port; sets PORT, SERVER_PID.
start_server() {
	rm -f serve.out serve.err
	if [ "${MLOPS_VALGRIND:-}" = 1 ]; then
		(exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
			--error-exitcode=126 "$MLOPS_BIN" deploy serve --port 0 "$@" >serve.out 2>serve.err) &
	else
		(exec "$MLOPS_BIN" deploy serve --port 0 "$@" >serve.out 2>serve.err) &
	fi
	SERVER_PID=$!
	# A case that fails half-way leaves its subshell without stop_server:
	# the server is killed as the subshell exits, not left listening.
	trap 'kill -KILL $SERVER_PID 2>/dev/null' EXIT
	for _i in $(seq 1 200); do
		grep -q "^serving" serve.out 2>/dev/null && break
		kill -0 $SERVER_PID 2>/dev/null || break
		sleep 0.05
	done
	PORT=$(sed -n 's/^serving .*:\([0-9][0-9]*\)$/\1/p' serve.out)
	test -n "$PORT" || { cat serve.err >&2; return 1; }
}

# stop_server: SIGTERM, and the server must exit 0.
stop_server() {
	kill -TERM $SERVER_PID && wait $SERVER_PID
}

# reload_server: SIGHUP, then wait (up to 20 s, however loaded the machine)
# for the server to say on stderr that it reloaded or that the reload failed.
reload_server() {
	_n=$(grep -c "reload" serve.err 2>/dev/null)
	kill -HUP $SERVER_PID || return 1
	for _i in $(seq 1 200); do
		test "$(grep -c "reload" serve.err 2>/dev/null)" -gt "${_n:-0}" && return 0
		sleep 0.1
	done
	echo "reload_server: no reload reported" >&2
	return 1
}

url() { echo "http://127.0.0.1:$PORT$1"; }

# post PATH CONTENT-TYPE FILE: body to stdout, status to ./status
post() {
	curl -s -o body -w '%{http_code}' -H "Content-Type: $2" --data-binary "@$3" "$(url "$1")" >status &&
	cat body
}

# The numbers of "predictions" (MLflow) or of the first output (V2), one a line.
predictions() {
	{
		sed -e 's/.*"predictions":\[\([^]]*\)\].*/\1/' \
		    -e 's/.*"name":"predict",[^[]*\[[^]]*\],"datatype":"[A-Z0-9]*","data":\[\([^]]*\)\].*/\1/' |
		tr -d '"\n'
		echo
	} | tr ',' '\n'
}

# same_numbers A B: line by line equal within 1e-9 relative.
same_numbers() {
	test "$(wc -l <"$1")" = "$(wc -l <"$2")" &&
	paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2; if (m < 1) m = 1;
		if (d > 1e-9 * m) { print "differs: " $0; bad = 1 } } END { exit bad }'
}
