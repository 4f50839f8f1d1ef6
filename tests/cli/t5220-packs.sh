#!/bin/sh
# The local store's packs: a command that stores many objects writes them
# into a pack; checkout, fsck, gc, push and pull work the same on them.
. "$(dirname "$0")/lib.sh"

R=$TRASH/remote
idof() { printf "$1" | sha256sum | cut -c1-64; }
loose() { find .mlops/objects -type f ! -path "*/pack/*" | wc -l; }
npacks() { ls .mlops/objects/pack/*.pack 2>/dev/null | wc -l; }
# ctime_moved FILE BEFORE: make sure FILE's ctime (stat -c %z) is no longer
# BEFORE after a change, as a change a clock tick later is: a kernel with
# coarse timestamps (before Linux 6.13) gives a change made in the tick
# mlops sealed the pack in the same time.
ctime_moved() {
	while test "$(stat -c %z "$1")" = "$2"; do sleep 0.01 && chmod u+w "$1" || return 1; done
}

# A tree of $2 small files under $1 with a few larger ones.
mktree() {
	mkdir -p "$1/a" "$1/b" &&
	i=0 && while test $i -lt $2; do
		printf "file %s of %s\n" $i "$1" >"$1/a/f$i.txt" || return 1
		i=$((i + 1))
	done &&
	head -c 3000000 /dev/urandom >"$1/b/big.bin" &&
	seq 1 200000 >"$1/b/numbers.csv"
}

test_expect_success 'a large add writes a pack; a small one plain files' '
	git init -q && mlops -q init &&
	mkdir small && printf "one\n" >small/f && mlops -q dataset add small &&
	test $(npacks) = 0 && test $(loose) -gt 0 &&
	git add -A && git commit -qm small &&
	mktree d 600 && mlops -q dataset add d &&
	test $(npacks) = 1 && ls .mlops/objects/pack/*.idx >/dev/null &&
	test $(loose) -lt 300 &&
	test -z "$(ls .mlops/tmp)" &&
	mlops fsck >out && grep -q "0 faults" out &&
	mlops --json fsck >j && grep -q "\"packs\":[[:space:]]*1" j
'

test_expect_success 'core.packAfter 0 packs everything, even the record' '
	git config -f .mlops/config core.packAfter 0 &&
	before=$(loose) &&
	mktree e 50 && mlops -q dataset add e &&
	test $(loose) = $before && test $(npacks) -gt 1
'

test_expect_success 'checkout from packs restores exact bytes; status sees no change' '
	mlops -q dataset checkout d --to co &&
	(cd d && find . -type f | sort | xargs sha256sum) >want &&
	(cd co/d && find . -type f | sort | xargs sha256sum) >got &&
	test_cmp want got &&
	rm -rf d && mlops -q dataset checkout d && (cd d && find . -type f | sort | xargs sha256sum) >got2 &&
	test_cmp want got2 && mlops status --exit-code
'

test_expect_success 'a bit flipped in a pack: fsck names the object, checkout refuses it' '
	# Written through the file system: the pack is no longer sealed (its
	# ctime moved), so checkout hashes its objects again.
	mkdir z && printf "marker-7f3a9 in a pack\n" >z/m && printf "other\n" >z/o &&
	mlops -q dataset add z && id=$(idof "marker-7f3a9 in a pack\n") &&
	pack=$(grep -laF marker-7f3a9 .mlops/objects/pack/*.pack) && test -n "$pack" &&
	off=$(grep -obaF marker-7f3a9 "$pack" | cut -d: -f1) && cp "$pack" saved.pack &&
	c0=$(stat -c %z "$pack") &&
	chmod u+w "$pack" && printf "M" | dd of="$pack" bs=1 seek=$off conv=notrunc status=none &&
	ctime_moved "$pack" "$c0" &&
	test_expect_code 1 mlops fsck >out 2>err &&
	grep -q "^corrupt $id" out && grep -q "1 fault" err &&
	test_must_fail mlops dataset checkout z --to co 2>err &&
	grep -q "corrupt" err && ! test -e co/z/m &&
	cp saved.pack "$pack" && mlops fsck && mlops -q dataset checkout z --to co &&
	test "$(cat co/z/m)" = "marker-7f3a9 in a pack"
'

test_expect_success 'a damaged pack index is a fault named by the pack' '
	idx=$(ls .mlops/objects/pack/*.idx | head -n 1) && cp "$idx" saved.idx &&
	chmod u+w "$idx" && flip_byte "$idx" 70 &&
	test_expect_code 1 mlops fsck >out 2>&1 &&
	grep -q "^corrupt $(basename "$idx" .idx)" out &&
	cp saved.idx "$idx" && mlops fsck
'

test_expect_success 'gc rewrites a pack without what nothing needs and keeps the rest' '
	mkdir g && printf "shared\n" >g/s && printf "only g\n" >g/o && mlops -q dataset add g &&
	mkdir h && printf "shared\n" >h/s && mlops -q dataset add h &&
	printf "gone\n" >e/a/f0.txt && mlops -q dataset add e &&
	mlops -q dataset rm g@v1 && mlops -q dataset rm d@v1 && git checkout -q mlops.lock &&
	find .mlops/objects -type f | sort >before &&
	mlops gc --dry-run --grace now >out && grep -q "^would remove [1-9]" out &&
	grep -q "would remove $(idof "only g\n")" out && ! grep -q "$(idof "shared\n")" out &&
	grep -q "would remove $(idof "file 5 of d\n")" out &&
	find .mlops/objects -type f | sort >after && test_cmp before after &&
	mlops gc --grace now >out && grep -q "^removed [1-9]" out &&
	find .mlops/objects -type f | sort >after && ! cmp -s before after &&
	mlops fsck && test -z "$(ls .mlops/tmp)" &&
	mlops -q dataset checkout h --to co2 && test "$(cat co2/h/s)" = shared &&
	mlops -q dataset checkout e --to co2 && test "$(cat co2/e/a/f0.txt)" = gone &&
	cmp co2/e/b/big.bin e/b/big.bin && cmp co2/e/a/f7.txt e/a/f7.txt &&
	mlops gc --dry-run --grace now >out && grep -q "^would remove 0" out
'

test_expect_success 'push and pull of packed objects: byte-identical in a new clone' '
	git init -q ../src && cd ../src && mlops -q init &&
	mktree p 800 && mlops -q dataset add p && test $(npacks) = 1 &&
	mlops -q remote add origin "$R" && git add -A && git commit -qm p &&
	mlops -q push &&
	mlops fsck --remote origin >out && grep -q "0 faults" out &&
	cd .. && git clone -q src clone && cd clone && mlops -q init && mlops -q pull &&
	test $(npacks) -ge 1 &&
	(cd ../src/p && find . -type f | sort | xargs sha256sum) >want &&
	(cd p && find . -type f | sort | xargs sha256sum) >got && test_cmp want got &&
	mlops fsck >out && grep -q "0 faults" out
'

test_expect_success 'a second push and pull bring a new pack' '
	cd ../src && mktree q 400 && mlops -q dataset add q &&
	git add -A && git commit -qm q && mlops -q push &&
	cd ../clone && rm -f out && git pull -q && mlops -q pull &&
	(cd ../src/q && find . -type f | sort | xargs sha256sum) >want &&
	(cd q && find . -type f | sort | xargs sha256sum) >got && test_cmp want got
'

test_done
