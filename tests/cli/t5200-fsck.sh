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

# A repository $1 pushed to remote $TRASH/$1-remote: one small version, one pack.
pushed() {
	git init -q "$1" && cd "$1" && mlops -q init && mkdir d && echo s >d/s &&
	mlops -q dataset add d && mlops -q remote add origin "$TRASH/$1-remote" && mlops -q push
}

test_expect_success 'a remote pack whose file is gone: each object its index names is missing' '
	pushed mp && P=$TRASH/mp-remote/packs && idx=$(ls "$P"/*.idx) && rm "$P"/*.pack &&
	test_expect_code 1 mlops fsck --remote origin >out 2>err &&
	test $(grep -c "^missing [0-9a-f]\{64\}: .* has the index of pack .* and not its file" out) = 3 &&
	grep -q "3 faults" err &&
	test_expect_code 1 mlops --json fsck --remote origin >j &&
	test $(grep -c "\"problem\":[[:space:]]*\"missing\"" j) = 3
'

test_expect_success 'objects lost from a remote by hand: once fsck saw them missing, push sends them again' '
	pushed lost && P=$TRASH/lost-remote/packs && rm "$P"/* &&
	mlops push >out && grep -q "0 sent" out &&
	test_expect_code 1 mlops fsck --remote origin >out && grep -q "^missing " out &&
	mlops push >out && grep -q "^objects: 3 sent" out &&
	mlops fsck --remote origin >out && grep -q "0 faults" out &&
	mlops push >out && grep -q "0 sent" out
'

test_expect_success 'gc --remote keeps the index of a lost pack while its objects are needed' '
	cd mp && P=$TRASH/mp-remote/packs && idx=$(ls "$P"/*.idx) &&
	mlops gc --remote origin --dry-run >out 2>err && grep -q "^would remove 0 objects" out &&
	grep -q "needed objects are missing, index kept" err &&
	touch -d "2 hours ago" "$idx" &&
	mlops gc --remote origin --grace now >out 2>err && test -f "$idx" && grep -q "index kept" err &&
	rm -r "$TRASH/mp-remote/refs/datasets" && mlops -q dataset rm d@v1 && rm -f mlops.lock &&
	mlops gc --remote origin --grace now -n >out 2>err &&
	grep -q "^would remove packs/$(basename "$idx") 0$" out && ! grep -q "index kept" err &&
	mlops gc --remote origin --grace now >out && grep -q "^removed 1 object" out &&
	! test -e "$idx" && mlops fsck --remote origin
'

test_expect_success 'a remote pack file without its index is a fault once an hour old' '
	pushed np && P=$TRASH/np-remote/packs && pack=$(ls "$P"/*.pack) && rm "$P"/*.idx &&
	test_expect_code 1 mlops fsck --remote origin >out 2>&1 && ! grep -q "^corrupt" out &&
	touch -d "2 hours ago" "$pack" &&
	test_expect_code 1 mlops fsck --remote origin >out 2>err &&
	grep -q "^corrupt $(basename "$pack" .pack): pack file .* has no index" out &&
	test_expect_code 1 mlops --json fsck --remote origin >j &&
	grep -q "\"problem\":[[:space:]]*\"corrupt\"" j
'

test_expect_success 'a damaged index on a remote is a fault; gc --remote refuses, deleting nothing' '
	pushed di && P=$TRASH/di-remote/packs && idx=$(ls "$P"/*.idx) && pack=$(ls "$P"/*.pack) &&
	chmod u+w "$idx" && echo junk >"$idx" &&
	test_expect_code 1 mlops fsck --remote origin >out 2>err &&
	grep -q "^corrupt $(basename "$idx" .idx): .*pack index .* is corrupt" out &&
	test_expect_code 1 mlops --json fsck --remote origin >j &&
	grep -q "\"problem\":[[:space:]]*\"corrupt\"" j &&
	touch -d "2 hours ago" "$idx" "$pack" &&
	test_expect_code 10 mlops gc --remote origin --grace now 2>err &&
	grep -q "is corrupt.*gc deletes nothing.*mlops fsck --remote origin" err &&
	test -f "$idx" && test -f "$pack"
'

test_expect_success 'fsck -h outside a repository' '
	cd / && mlops fsck -h >"$TRASH/out" && grep -q "usage: mlops fsck" "$TRASH/out"
'

test_done
