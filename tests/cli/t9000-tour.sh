#!/bin/sh
# The tour in the README (examples/tour.sh) runs from start to end.
. "$(dirname "$0")/lib.sh"

test_expect_success 'examples/tour.sh succeeds' '
	MLOPS_BIN="$MLOPS_BIN" "$TEST_ROOT/examples/tour.sh" >tour.out 2>&1 ||
		{ tail -30 tour.out >&2; return 1; }
	grep -q "The tour finished: every step succeeded." tour.out
'

test_done
