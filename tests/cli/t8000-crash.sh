#!/bin/sh
# Reliability: kill -9 during dataset add, concurrent adds.  Short versions
# for CI; MLOPS_STRESS=N multiplies the counts (make stress).
. "$(dirname "$0")/lib.sh"

stress=${MLOPS_STRESS:-1}
mlops -q init

# Content of version K: a few files, one large enough to be chunked.
make_version() {
	rm -rf data && mkdir -p data/sub &&
	i=0 && while [ $i -lt 30 ]; do echo "$1 file $i" >data/sub/f$i; i=$((i + 1)); done &&
	{ seq 1 200000; echo "$1"; } >data/big.txt
}

checksum() { (cd "$1" && find . -type f | sort | xargs sha256sum) | sha256sum | cut -c1-64; }

test_expect_success 'kill -9 at many points during dataset add loses nothing saved' '
	make_version probe && t0=$(date +%s%N) &&
	mlops -q dataset add data --name probe && t1=$(date +%s%N) &&
	dur=$(( (t1 - t0) / 1000 )) && say "one add takes ${dur} us" &&
	kills=$((20 * stress)) && k=0 && saved=0 &&
	: >saved.txt &&
	while [ $k -lt $kills ]; do
		make_version "crash$k" || return 1
		sum=$(checksum data)
		( exec "$MLOPS_BIN" -q dataset add data --name crash >out.$k 2>&1 ) &
		pid=$!
		if [ $((k % 4)) != 3 ]; then
			us=$(( dur * ((k * 7919) % 100) / 80 ))
			sleep $(printf "%d.%06d" $((us / 1000000)) $((us % 1000000)))
			kill -9 $pid 2>/dev/null
		fi
		wait $pid 2>/dev/null; rc=$?
		if [ $rc = 0 ]; then
			v=$(mlops --json dataset show crash | sed -n "s/.*\"version\":[[:space:]]*\([0-9]*\).*/\1/p" | head -1) &&
			echo "$v $sum" >>saved.txt && saved=$((saved + 1))
		fi
		# the next command works without manual repair
		mlops dataset list >/dev/null 2>err.$k || { cat err.$k >&2; return 1; }
		k=$((k + 1))
	done &&
	say "$saved of $kills adds completed" &&
	test $saved -ge $((kills / 4)) &&
	while read -r v sum; do
		rm -rf out && mlops -q dataset checkout crash@v$v --to out &&
		test "$(checksum out/data)" = "$sum" || { echo "crash@v$v differs" >&2; return 1; }
	done <saved.txt &&
	if mlops fsck -h >/dev/null 2>&1; then mlops fsck; fi
'

test_expect_success 'every version listed after the crashes checks out' '
	mlops --json dataset log crash >log.json &&
	for v in $(sed -n "s/.*\"version\":[[:space:]]*\([0-9]*\).*/\1/p" log.json); do
		rm -rf out && mlops -q dataset checkout crash@v$v --to out || return 1
	done
'

test_expect_success '8 processes adding versions of the same and different datasets' '
	n=$((8 * stress)) && j=0 &&
	while [ $j -lt $n ]; do
		mkdir -p c$j && echo "content $j" >c$j/f && seq 1 $((j * 1000)) >c$j/g &&
		j=$((j + 1))
	done &&
	j=0 && while [ $j -lt $n ]; do
		name=same; [ $((j % 2)) = 1 ] && name=own$j
		( "$MLOPS_BIN" -q dataset add c$j --name $name >add.$j 2>&1; echo $? >rc.$j ) &
		j=$((j + 1))
	done && wait &&
	j=0 && while [ $j -lt $n ]; do
		test "$(cat rc.$j)" = 0 || { cat add.$j >&2; return 1; }
		j=$((j + 1))
	done &&
	test $(mlops --json dataset log same | grep -c "\"version\"") = $((n / 2)) &&
	for v in $(seq 1 $((n / 2))); do
		rm -rf out && mlops -q dataset checkout same@v$v --to out || return 1
		ls out | grep -q "^c[0-9]*$" || return 1
	done &&
	! test -e .mlops/lock
'

test_expect_success 'a full disk mid-add gives a clear error and leaves nothing half-written' '
	test "$(id -u)" = 0 && test_have_cmd mount || return 0
	mkdir small && mount -t tmpfs -o size=3m tmpfs small 2>/dev/null || return 0
	( cd small && git init -q && mlops -q init && mkdir d && echo ok >d/a &&
	  mlops -q dataset add d &&
	  head -c 2000000 /dev/urandom >d/big &&
	  test_must_fail mlops dataset add d 2>../full.err ) ; rc=$?
	grep -q "No space left on device" full.err; rc2=$?
	ls small/.mlops/tmp | wc -l >tmpcount
	test "$(mlops -C small --json dataset log d | grep -c "\"version\"")" = 1; rc3=$?
	umount small
	test $rc = 0 && test $rc2 = 0 && test $rc3 = 0 && test "$(cat tmpcount)" = 0
'

test_done
