#!/bin/sh
# mlops fsck: hashes, references, packs; exit 1 naming each fault.
. "$(dirname "$0")/lib.sh"

R=$TRASH/remote
obj() { ls .mlops/objects/$(echo $1 | cut -c1-2)/$(echo $1 | cut -c3-)* 2>/dev/null; }

test_expect_success 'a clean store passes' '
	git init -q && mlops -q init &&
	mkdir d && printf "alpha\n" >d/a && printf "beta\n" >d/b && head -c 300000 /dev/urandom >d/big &&
	mlops -q dataset add d && mlops fsck >out && grep -q "0 faults" out
'

test_expect_success 'a bit-flipped object: exit 1, named' '
	id=$(printf "alpha\n" | sha256sum | cut -c1-64) && f=$(obj $id) &&
	chmod u+w $f && printf "A" | dd of=$f bs=1 seek=0 conv=notrunc status=none &&
	test_expect_code 1 mlops fsck >out 2>err &&
	grep -q "^corrupt $id" out && grep -q "1 fault" err &&
	test_expect_code 1 mlops --json fsck >j &&
	grep -q "\"problem\":[[:space:]]*\"corrupt\"" j && grep -q "$id" j &&
	printf "alpha\n" >fixed && chmod u+w $f && cp fixed $f && mlops fsck
'

test_expect_success 'a missing object a ref needs: exit 1, named' '
	id=$(printf "beta\n" | sha256sum | cut -c1-64) && f=$(obj $id) && mv $f saved &&
	test_expect_code 1 mlops fsck >out 2>&1 &&
	grep -q "^missing $id" out &&
	mv saved $f && mlops fsck
'

test_expect_success 'a ref naming a missing record is a fault' '
	echo 0000000000000000000000000000000000000000000000000000000000000001 >.mlops/refs/datasets/d/v9 &&
	test_expect_code 1 mlops fsck >out 2>&1 && grep -q "missing 0*1" out &&
	rm .mlops/refs/datasets/d/v9
'

test_expect_success 'fsck --remote checks objects and packs on a remote' '
	mlops -q remote add origin "$R" && mlops -q push &&
	mlops fsck --remote origin >out && grep -q "0 faults" out &&
	pack=$(ls "$R"/packs/*.pack | head -1) && chmod u+w "$pack" &&
	flip_byte "$pack" 12 &&
	test_expect_code 1 mlops fsck --remote origin >out 2>&1 && grep -q "pack .* is corrupt" out
'

# The packs of remote $1 named by their index (large objects): "PACK IDX".
bulk_packs() {
	for idx in "$1"/packs/*.idx; do
		case $(od -An -v -tx1 -j8 -N32 "$idx" | tr -d ' \n') in
		*[1-9a-f]*) ;;
		*) echo "${idx%.idx}.pack $idx" ;;
		esac
	done
}

test_expect_success 'a pull stopped midway leaves fsck clean; the next one completes' '
	git init -q src && cd src && mlops -q init && mkdir d && echo small >d/s &&
	head -c 3000000 /dev/urandom >d/big && mlops -q dataset add d &&
	git add -A && git commit -qm d && S=$TRASH/partial &&
	mlops -q remote add origin "$S" --default && mlops -q push &&
	# Hold back the large objects (the chunks): in packs of their own, or
	# alone, as the chunk sizes fall; the records stay.
	mkdir ../held && for f in $(bulk_packs "$S"); do mv "$f" ../held/ || return 1; done &&
	if [ -d "$S/objects" ]; then mv "$S/objects" ../held/; fi && test -n "$(ls ../held)" &&
	cd .. && git clone -q src part && cd part && mlops -q init && mlops -q remote add origin "$S" &&
	test_expect_code 3 mlops pull 2>err && grep -q "is missing" err && ! test -e .mlops/refs/datasets &&
	# The record and its tree arrived, the chunks did not: not a fault.
	mlops --json fsck >j && grep -q "\"reachable\":[[:space:]]*[1-9]" j &&
	grep -q "\"remote\":[[:space:]]*null" j &&
	mlops fsck >out && grep -q " 0 faults" out &&
	if [ -d ../held/objects ]; then mv ../held/objects "$S/"; fi &&
	for f in ../held/*; do [ ! -f "$f" ] || mv "$f" "$S/packs/" || return 1; done &&
	mlops -q pull && cmp d/big ../src/d/big &&
	mlops fsck >out && grep -q " 0 faults" out
'

test_expect_success 'a damaged ref on a remote is a damaged-ref fault, as locally; gc --remote refuses' '
	git init -q dr && cd dr && mlops -q init && echo 1 >f && mlops -q dataset add f --name t &&
	echo 2 >f && mlops -q dataset add f --name t &&
	mlops -q remote add origin "$TRASH/dr-remote" && mlops -q push &&
	echo garbage >"$TRASH/dr-remote/refs/datasets/t/v2" &&
	test_expect_code 1 mlops fsck --remote origin >out 2>err &&
	grep -q "^damaged-ref datasets/t/v2: " out && grep -q "1 fault" err &&
	mlops --json fsck --remote origin >j; test $? = 1 &&
	grep -q "\"problem\":[[:space:]]*\"damaged-ref\"" j &&
	test_expect_code 10 mlops gc --remote origin 2>err && grep -q "datasets/t/v2.* damaged" err
'

test_expect_success 'fsck -h outside a repository' '
	cd / && mlops fsck -h >"$TRASH/out" && grep -q "usage: mlops fsck" "$TRASH/out"
'

test_done
