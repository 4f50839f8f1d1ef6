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

test_expect_success '-C runs in another directory' '
	mkdir -p other && mlops -C other init >out &&
	test -d other/.mlops
'

test_done
