#!/bin/sh
# The tour in the README (examples/tour.sh) runs from start to end.
. "$(dirname "$0")/lib.sh"

test_expect_success 'examples/tour.sh succeeds' '
	MLOPS_BIN="$MLOPS_BIN" "$TEST_ROOT/examples/tour.sh" >tour.out 2>&1 ||
		{ tail -30 tour.out >&2; return 1; }
	grep -q "The tour finished: every step succeeded." tour.out
'

# Its server must not outlive it: the tour's work folder is in its command line.
test_expect_success 'the tour leaves no server running' '
	work=$(sed -n "s|.*--log \(/[^ ]*\)/requests.jsonl.*|\1|p" tour.out | head -n 1)
	test -z "$work" && work=$(grep -o "/[^ ]*mlops-tour\.[A-Za-z0-9]*" tour.out | head -n 1)
	test -n "$work" && sleep 0.2 && ! pgrep -f "deploy serve .*$work" >/dev/null
'

test_done
