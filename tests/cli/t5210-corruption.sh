#!/bin/sh
# Damaged stores: truncated objects, a missing chunk, a damaged ref, a
# damaged stat cache, a corrupt model.  Each is found by fsck (exit 1,
# named) and never served: checkout and serve refuse instead of writing or
# answering with bad bytes.
. "$(dirname "$0")/lib.sh"

# obj ID: the file of an object (raw, .zst or .zz).
obj() { ls .mlops/objects/$(echo $1 | cut -c1-2)/$(echo $1 | cut -c3-)* 2>/dev/null; }
# damage FILE: make an object writable and keep a copy to restore.
damage() { cp "$1" saved && chmod u+w "$1"; }
restore() { cp saved "$1" && chmod a-w "$1" && rm -f saved; }

test_expect_success 'setup: a folder with a chunked file, a registered model' '
	git init -q && mlops -q init &&
	mkdir d && printf "alpha\n" >d/a && head -c 3000000 /dev/urandom >d/big &&
	mlops -q dataset add d &&
	cp "$TEST_ROOT/tests/fixtures/learn/breast_cancer.csv" bc.csv &&
	mlops -q dataset add bc.csv --name bc &&
	mlops train --builtin logistic -d bc --target target >out &&
	run=$(sed -n "s/^\(r-[0-9a-f]*\) .*/\1/p" out) &&
	git add mlops.lock .gitignore && git commit -qm data &&
	test -n "$run" && mlops -q register clf --run "$run" &&
	mlops fsck >out && grep -q "0 faults" out
'

test_expect_success 'a truncated object: fsck names it, checkout writes nothing' '
	id=$(printf "alpha\n" | sha256sum | cut -c1-64) && f=$(obj $id) &&
	damage $f && head -c 3 saved >$f &&
	test_expect_code 1 mlops fsck >out 2>&1 && grep -q "^corrupt $id" out &&
	test_expect_code 7 mlops dataset checkout d --to out1 2>err &&
	grep -q "object $id is corrupt" err && ! test -e out1/d/a &&
	restore $f && mlops fsck
'

test_expect_success 'a bit flipped in a raw chunk (same size): checkout refuses it' '
	f=$(ls -S .mlops/objects/*/* | head -n 1) &&
	id=$(echo "$f" | sed "s|.mlops/objects/\(..\)/\([0-9a-f]*\).*|\1\2|") &&
	damage $f && flip_byte $f 1000 &&
	! cmp -s $f saved &&
	test_expect_code 7 mlops dataset checkout d --to outf 2>err &&
	grep -q "object $id is corrupt" err && ! test -e outf/d/big &&
	restore $f && mlops dataset checkout d --to outg && cmp outg/d/big d/big
'

test_expect_success 'stats of a stored table reads it verified' '
	mkdir t && printf "x,y\n1,2\n3,4\n" >t/small.csv && mlops -q dataset add t &&
	mlops dataset stats t >out && grep -q "2 rows" out &&
	id=$(printf "x,y\n1,2\n3,4\n" | sha256sum | cut -c1-64) && f=$(obj $id) &&
	damage $f && printf "9" | dd of=$f bs=1 seek=4 conv=notrunc status=none &&
	test_expect_code 7 mlops dataset stats t 2>err && grep -q "object $id is corrupt" err &&
	restore $f && mlops dataset stats t >out && grep -q "2 rows" out
'

test_expect_success 'a missing chunk of a large file: fsck names it, checkout refuses' '
	f=$(ls -S .mlops/objects/*/* | head -n 1) &&
	id=$(echo "$f" | sed "s|.mlops/objects/\(..\)/\([0-9a-f]*\).*|\1\2|") &&
	test $(stat -c %s "$f") -ge 131072 && mv "$f" saved &&
	test_expect_code 1 mlops fsck >out 2>&1 && grep -q "^missing $id" out &&
	test_must_fail mlops dataset checkout d --to out2 2>err && grep -q "$id" err &&
	! test -e out2/d/big &&
	mv saved "$f" && mlops fsck &&
	mlops dataset checkout d --to out3 && cmp out3/d/big d/big
'

test_expect_success 'a damaged ref: fsck names it, commands say what is wrong' '
	ref=.mlops/refs/datasets/d/v1 && cp $ref saved &&
	printf "not an id\n" >$ref &&
	test_expect_code 1 mlops fsck >out 2>&1 && grep -q "datasets/d/v1" out &&
	test_must_fail mlops dataset show d@v1 2>err && grep -q "datasets/d/v1" err &&
	test_expect_code 1 mlops --json fsck >j && grep -q "damaged-ref" j &&
	find .mlops/objects -type f | sort >before &&
	test_must_fail mlops gc 2>err && grep -q "datasets/d/v1" err &&
	find .mlops/objects -type f | sort >after && cmp before after &&
	cp saved $ref && rm saved && mlops fsck
'

test_expect_success 'a damaged stat cache is ignored and rebuilt' '
	head -c 4096 /dev/urandom >.mlops/index &&
	mlops status >out && grep -q "match" out &&
	mlops dataset add d >out && grep -q "up to date" out &&
	mlops fsck && head -c 8 .mlops/index >magic && printf MLOPSIX1 >want && cmp magic want
'

test_expect_success 'serve refuses a model whose artifact is corrupt' '
	tree=$(mlops --json register show clf | sed -n "/\"artifact\"/,/}/s/.*\"id\":[[:space:]]*\"\([0-9a-f]*\)\".*/\1/p" | head -n 1) &&
	test -n "$tree" &&
	blob=$(sed -n "s/.*\"id\":\"\([0-9a-f]*\)\".*\"name\":\"model.json\".*/\1/p" $(obj $tree)) &&
	test -n "$blob" && f=$(obj $blob) && damage $f &&
	printf "X" | dd of=$f bs=1 seek=20 conv=notrunc status=none &&
	test_expect_code 7 mlops deploy serve clf --port 0 >out 2>err &&
	grep -q "corrupt" err && ! grep -q "^serving" out &&
	restore $f && mlops fsck
'

test_done
