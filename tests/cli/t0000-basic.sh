#!/bin/sh
# The command itself: version, help, unknown commands, outside a repository.
. "$(dirname "$0")/lib.sh"

test_expect_success '--version prints the version' '
	mlops --version >out &&
	grep -q "^mlops version [0-9]" out
'

test_expect_success '--json --version is JSON' '
	mlops --json --version >out &&
	grep -q "\"version\"" out
'

test_expect_success '--help lists the commands' '
	mlops --help >out &&
	grep -q "^   init " out && grep -q "^   dataset " out
'

test_expect_success 'no command is a usage error' '
	test_expect_code 2 mlops 2>err &&
	grep -q "usage:" err
'

test_expect_success 'unknown command suggests the closest' '
	test_expect_code 2 mlops stauts 2>err &&
	grep -q "mlops: .stauts. is not a command" err &&
	grep -q "status" err
'

test_expect_success 'unknown global option is a usage error' '
	test_expect_code 2 mlops --frobnicate status 2>err &&
	grep -q "unknown option" err
'

test_expect_success 'commands outside a repository give the hint' '
	mkdir outside && cd outside &&
	for c in status "dataset list"; do
		test_expect_code 8 mlops $c 2>err &&
		grep -q "not in an mlops repository" err &&
		grep -q "mlops init" err || return 1
	done
'

test_expect_success 'a full stdout is an error, not exit 0' '
	test -w /dev/full || return 0
	test_must_fail mlops --version >/dev/full 2>err &&
	grep -q "write failure on standard output" err
'

# libgit2, libcurl, libarchive and libmicrohttpd (and the 20-odd
# libraries they bring) are loaded on first use, not at every start: the
# dynamic loader says which files it maps (LD_DEBUG=files).
test_expect_success 'status and --version never load libgit2; a git operation does' '
	git init -q lazy && cd lazy && mlops -q init && echo a >a && mlops -q dataset add a &&
	git add -A && git commit -qm a &&
	LD_DEBUG=files "$MLOPS_BIN" status >out 2>ld && grep -q "matches mlops.lock" out &&
	grep -q "file=libzstd" ld && ! grep -q "file=libgit2" ld && ! grep -q "file=libcurl" ld &&
	LD_DEBUG=files "$MLOPS_BIN" --version >out 2>ld && ! grep -q "file=libgit2" ld &&
	echo b >a && LD_DEBUG=files "$MLOPS_BIN" -q dataset add a -m b 2>ld &&
	grep -q "file=libgit2" ld && mlops dataset log a >out && grep -q " b$" out
'

test_expect_success '-C runs in another directory' '
	mkdir -p other && mlops -C other init >out &&
	test -d other/.mlops
'

test_done
