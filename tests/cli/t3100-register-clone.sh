#!/bin/sh
# A clone sees the registry through git tags and, after mlops pull, the
# artifacts of every version.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a registered, promoted model pushed to a directory remote' '
	mkdir up && cd up && git init -q && mlops -q init &&
	cp "$TEST_ROOT/examples/data/breast_cancer.csv" bc.csv &&
	mlops -q dataset add bc.csv --name bc && git add -A && git commit -qm data &&
	mlops train --builtin logistic -d bc --target target --seed 3 >out &&
	run=$(grep -o "r-[0-9a-f]*" out | head -n 1) &&
	mlops -q register clf --run "$run" && mlops -q register promote clf@v0.0.1 prod &&
	mlops -q remote add origin "$PWD/../store" --default && mlops -q push &&
	git add -A && git commit -qm registry
'

test_expect_success 'git clone sees the registry; mlops pull brings the artifacts' '
	git clone -q up down && cd down && mlops -q init &&
	mlops register list >list && grep -q "^clf .*prod=v0.0.1" list &&
	test_must_fail mlops deploy serve clf#prod --port 0 2>err &&
	mlops -q pull &&
	mlops --json register show clf#prod >show && grep -q "v0.0.1" show || return 1
	(exec "$MLOPS_BIN" -q deploy serve clf#prod --port 0 >serve.out 2>&1) &
	pid=$!
	i=0; while ! grep -q serving serve.out 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill $pid 2>/dev/null; wait $pid 2>/dev/null
	grep -q "serving clf v0.0.1" serve.out
'

test_done
