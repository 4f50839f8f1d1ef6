#!/bin/sh
# Reliability: kill -9 at many points during dataset add, train, register
# (and promote), push, fetch, pull, gc (local and of a remote) and import;
# concurrent adds, registrations and promotions; a full disk mid-add.
# Objects past the eighth of a batch go into packs, so the kills land in
# pack writes and rewrites too.  Short versions for CI (25 kill points
# here); MLOPS_STRESS=N multiplies the counts (make stress: 250).
. "$(dirname "$0")/lib.sh"

stress=${MLOPS_STRESS:-1}
R=$TRASH/remote
git init -q && mlops -q init &&
# Small batches: every add, pull and import here also writes packs.
git config -f .mlops/config core.packAfter 8 &&
printf '%s\n' '/*.tgz' '/out*' '/err*' '/saved*' '/data/' '/c[0-9]*/' '/src/' '/g/' '/c/' \
	'/m[0-9]*' '/mo' '/rc.*' '/add.*' '/reg.*' '/prom.*' '/done*' '/worker.sh' '/log.json' '/j' \
	'/show' '/tags' '/hist' '/clone/' '/f/' '/small/' '/full.err' '/tmpcount' '/pc/' >>.git/info/exclude &&
git add -A && git commit -q -m init

# Content of version K: a few files, one large enough to be chunked.
make_version() {
	rm -rf data && mkdir -p data/sub &&
	i=0 && while [ $i -lt 30 ]; do echo "$1 file $i" >data/sub/f$i; i=$((i + 1)); done &&
	{ seq 1 200000; echo "$1"; } >data/big.txt
}

checksum() { (cd "$1" && find . -type f | sort | xargs sha256sum) | sha256sum | cut -c1-64; }

# Microseconds one run of a command takes.
time_us() {
	_t0=$(date +%s%N) && "$@" >/dev/null 2>&1 && _t1=$(date +%s%N) &&
	echo $(( (_t1 - _t0) / 1000 ))
}

# crash_run K DUR SEED CMD...: run CMD (output in out.K) and kill it with
# SIGKILL after a delay spread over 0 to 1.1 DUR microseconds by K and
# SEED (a kill point each; a few land after the end).  Returns CMD's exit
# status (137 when the kill came first).
crash_run() {
	_k=$1 _dur=$2 _seed=$3 && shift 3
	( exec "$@" >out.$_k 2>&1 ) &
	_pid=$!
	_us=$(( _dur * ((_k * 7919 + _seed) % 100) / 90 ))
	sleep $(printf "%d.%06d" $((_us / 1000000)) $((_us % 1000000)))
	kill -9 $_pid 2>/dev/null
	wait $_pid 2>/dev/null
}

# After a kill: the store is sound, and the next command needs no repair.
after_kill() {
	mlops fsck >out.fsck 2>&1 || { cat out.fsck >&2; return 1; }
	"$@" >/dev/null 2>out.next || { cat out.next >&2; return 1; }
}

# Every version in saved.push ("VERSION CHECKSUM" lines) checks out of a
# fresh clone fetched from the remote byte-identical.
check_pushed() {
	rm -rf clone && mkdir clone && (cd clone && git init -q && mlops -q init &&
		mlops -q remote add origin "$R" --default && mlops -q fetch) &&
	while read -r v sum; do
		rm -rf out && mlops -C clone -q dataset checkout pushed@v$v --to ../out &&
		test "$(checksum out/data)" = "$sum" || { echo "pushed@v$v differs" >&2; return 1; }
	done <saved.push
}

json_num() { sed -n "s/.*\"$1\":[[:space:]]*\([0-9][0-9]*\).*/\1/p" | head -n 1; }
json_str() { sed -n "s/.*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1; }

test_expect_success 'kill -9 at many points during dataset add loses nothing saved' '
	make_version probe && dur=$(time_us "$MLOPS_BIN" -q dataset add data --name probe) &&
	say "one add takes ${dur} us" &&
	kills=$((5 * stress)) && k=0 && : >saved.add &&
	while [ $k -lt $kills ]; do
		make_version "crash$k" && sum=$(checksum data) || return 1
		if crash_run $k $dur 0 "$MLOPS_BIN" -q dataset add data --name crash; then
			v=$(mlops --json dataset show crash | json_num version) &&
			echo "$v $sum" >>saved.add || return 1
		fi
		# the next command works without repair, and is saved too
		after_kill mlops dataset list && make_version "next$k" && sum=$(checksum data) &&
		mlops -q dataset add data --name crash &&
		v=$(mlops --json dataset show crash | json_num version) &&
		echo "$v $sum" >>saved.add || return 1
		k=$((k + 1))
	done &&
	say "$(grep -c . saved.add) adds completed around $kills kills" &&
	while read -r v sum; do
		rm -rf out && mlops -q dataset checkout crash@v$v --to out &&
		test "$(checksum out/data)" = "$sum" || { echo "crash@v$v differs" >&2; return 1; }
	done <saved.add
'

test_expect_success 'every version listed after the crashes checks out' '
	mlops --json dataset log crash >log.json &&
	for v in $(sed -n "s/.*\"version\":[[:space:]]*\([0-9]*\).*/\1/p" log.json); do
		rm -rf out && mlops -q dataset checkout crash@v$v --to out || return 1
	done &&
	git add mlops.lock && git commit -q -m data
'

test_expect_success 'kill -9 during the first add of a path: the lock names no path .gitignore lacks' '
	mkdir gprobe && seq 1 100000 >gprobe/f && dur=$(time_us "$MLOPS_BIN" -q dataset add gprobe) &&
	kills=$((8 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		mkdir gk$k && seq $k 100000 >gk$k/f &&
		crash_run $k $dur 23 "$MLOPS_BIN" -q dataset add gk$k
		for p in $(sed -n "s/^    \"\(gk[0-9]*\)\": {.*/\1/p" mlops.lock); do
			grep -qx "/$p" .gitignore || { echo "$p tracked, not in .gitignore" >&2; return 1; }
		done
		k=$((k + 1))
	done &&
	say "$(grep -c "^    \"gk" mlops.lock) of $kills first adds completed" &&
	mlops fsck && rm -rf gprobe gk*
'

test_expect_success 'a lock file naming no process is taken over' '
	mkdir -p c && echo 1 >c/f && : >.mlops/lock && touch -d "1 minute ago" .mlops/lock &&
	mlops -q dataset add c --name lockt 2>err && grep -q "stale repository lock that named no process" err &&
	echo 2 >c/f && : >.mlops/lock && mlops -q dataset add c --name lockt 2>err &&
	grep -q "stale repository lock that named no process" err && ! test -e .mlops/lock &&
	test "$(mlops --json dataset show lockt | json_num version)" = 2
'

test_expect_success 'kill -9 during train: finished runs are recorded whole' '
	cat >m.sh <<-\EOF &&
	#!/bin/sh
	seq 1 20000 >"$MLOPS_OUTPUT/model.txt"
	echo "$1" >>"$MLOPS_OUTPUT/model.txt"
	printf "{\"k\": %s}" "$1" >"$MLOPS_METRICS"
	EOF
	chmod +x m.sh && git add m.sh && git commit -q -m m.sh &&
	dur=$(time_us "$MLOPS_BIN" -q train -n probe -- ./m.sh -1) && say "one run takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 && : >saved.train &&
	while [ $k -lt $kills ]; do
		if crash_run $k $dur 37 "$MLOPS_BIN" --json train -n crash -p k=$k -- ./m.sh $k; then
			run=$(json_str run <out.$k) && test -n "$run" && echo "$run $k" >>saved.train || return 1
		fi
		after_kill mlops train list &&
		mlops --json train -n crash -p k=1$k -- ./m.sh 1$k >j 2>/dev/null &&
		run=$(json_str run <j) && test -n "$run" && echo "$run 1$k" >>saved.train || return 1
		k=$((k + 1))
	done &&
	while read -r run k; do
		mlops --json train show $run >j && tr -d " \t\n" <j | grep -q "\"k\":$k[,}]" ||
			{ echo "run $run of k=$k lost" >&2; return 1; }
	done <saved.train
'

test_expect_success 'kill -9 during register and promote: saved versions and stages stay' '
	head -c 1000000 /dev/urandom >m0 && dur=$(time_us "$MLOPS_BIN" -q register probe m0) &&
	say "one register takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 && : >saved.reg &&
	while [ $k -lt $kills ]; do
		head -c 1000000 /dev/urandom >m$k && echo $k >>m$k &&
		if [ $((k % 2)) = 0 ]; then
			set -- register churn m$k
		else
			set -- register promote churn staging
		fi
		if crash_run $k $dur 71 "$MLOPS_BIN" --json "$@"; then
			json_str tag <out.$k >>saved.reg || return 1
		fi
		after_kill mlops register list &&
		echo next >>m$k && mlops --json register churn m$k >j &&
		json_str tag <j >>saved.reg &&
		mlops --json register promote churn prod >j &&
		json_str tag <j >>saved.reg || return 1
		k=$((k + 1))
	done &&
	git tag -l >tags && say "$(grep -c . saved.reg) tags made around $kills kills" &&
	while read -r tag; do
		grep -qxF "$tag" tags || { echo "tag $tag lost" >&2; return 1; }
		case $tag in
		*@v*) mlops -q register show "$tag" >/dev/null || return 1 ;;
		esac
	done <saved.reg &&
	mlops register show churn#prod >show && grep -q "$(grep @v saved.reg | tail -n 1)" show
'

test_expect_success 'a register killed between its ref and its tag blocks no version' '
	echo orphan >mo && mlops --json register churn mo >j && tag=$(json_str tag <j) &&
	ref=.mlops/refs/models/$(echo $tag | sed "s,@,/,") && test -f $ref &&
	git tag -d $tag >/dev/null &&
	mlops fsck && mlops register list >/dev/null &&
	echo after >>mo && mlops --json register churn mo >j &&
	test "$(json_str tag <j)" = $tag && git tag -l $tag | grep -q . &&
	test "$(cat $ref)" = "$(json_str id <j)"
'

test_expect_success 'a register killed while git wrote its tag blocks nothing either' '
	echo killed >mo && mlops --json register churn mo >j && tag=$(json_str tag <j) &&
	git tag -d $tag >/dev/null && : >".git/refs/tags/$tag.lock" &&
	echo again >>mo && mlops --json register churn mo >j 2>err &&
	test "$(json_str tag <j)" = $tag && git tag -l $tag | grep -q . &&
	grep -q "warning: removed .*$tag.lock" err && ! test -e ".git/refs/tags/$tag.lock"
'

test_expect_success 'kill -9 during push: pushed versions reach the remote whole' '
	mlops -q remote add origin "$R" --default &&
	make_version push-probe && mlops -q dataset add data --name pushed &&
	dur=$(time_us "$MLOPS_BIN" -q push) && say "one push takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 && : >saved.push &&
	while [ $k -lt $kills ]; do
		make_version "push$k" && sum=$(checksum data) &&
		mlops -q dataset add data --name pushed &&
		v=$(mlops --json dataset show pushed | json_num version) || return 1
		if crash_run $k $dur 13 "$MLOPS_BIN" -q push; then
			echo "$v $sum" >>saved.push
		fi
		after_kill mlops fsck --remote origin &&
		mlops -q push && echo "$v $sum" >>saved.push || return 1
		k=$((k + 1))
	done &&
	check_pushed
'

test_expect_success 'a remote ref lock left by a killed push is taken over' '
	make_version push-lock && mlops -q dataset add data --name pushed &&
	v=$(mlops --json dataset show pushed | json_num version) &&
	: >"$R/refs/datasets/pushed/v$v.lock" &&
	mlops -q push 2>err && grep -q "warning: removed .*v$v.lock" err &&
	test -f "$R/refs/datasets/pushed/v$v" && ! test -e "$R/refs/datasets/pushed/v$v.lock"
'

test_expect_success 'kill -9 during fetch: the store stays sound, a retry completes' '
	fresh() {
		rm -rf f && mkdir f && (cd f && git init -q && mlops -q init &&
			mlops -q remote add origin "$R" --default)
	} &&
	fresh && dur=$(time_us "$MLOPS_BIN" -C f -q fetch) && say "one fetch takes ${dur} us" &&
	kills=$((2 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		fresh || return 1
		crash_run $k $dur 71 "$MLOPS_BIN" -C f -q fetch
		(cd f && after_kill mlops -q fetch) || return 1
		k=$((k + 1))
	done &&
	while read -r v sum; do
		rm -rf out && mlops -C f -q dataset checkout pushed@v$v --to ../out &&
		test "$(checksum out/data)" = "$sum" || { echo "fetched pushed@v$v differs" >&2; return 1; }
	done <saved.push
'

test_expect_success 'kill -9 during gc: nothing needed is deleted' '
	git add mlops.lock && git commit -q -m before-gc &&
	make_garbage() {
		rm -rf g && mkdir g && i=0 &&
		while [ $i -lt 100 ]; do echo "garbage $1 $i" >g/f$i; i=$((i + 1)); done &&
		mlops -q dataset add g && mlops -q dataset rm g >/dev/null && git checkout -q mlops.lock
	} &&
	make_garbage probe && dur=$(time_us "$MLOPS_BIN" -q gc --grace now) &&
	say "one gc takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		make_garbage $k || return 1
		crash_run $k $dur 53 "$MLOPS_BIN" -q gc --grace now
		after_kill mlops gc --grace now || return 1
		k=$((k + 1))
	done &&
	for f in saved.add saved.push; do
		while read -r v sum; do
			d=crash; [ $f = saved.push ] && d=pushed
			rm -rf out && mlops -q dataset checkout $d@v$v --to out &&
			test "$(checksum out/data)" = "$sum" || { echo "$d@v$v differs" >&2; return 1; }
		done <$f || return 1
	done &&
	while read -r run k; do
		mlops -q train show $run >/dev/null || return 1
	done <saved.train &&
	while read -r tag; do
		case $tag in *@v*) mlops -q register show "$tag" >/dev/null || return 1 ;; esac
	done <saved.reg
'

test_expect_success 'kill -9 during gc --remote: nothing needed goes, and no push waits for it' '
	git config -f .mlops/config remote.origin.gcWait 5 &&
	remote_garbage() {
		rm -rf g && mkdir g && i=0 &&
		while [ $i -lt 100 ]; do echo "remote garbage $1 $i" >g/f$i; i=$((i + 1)); done &&
		{ seq 1 100000; echo "$1"; } >g/big &&
		mlops -q dataset add g --name rg && mlops -q push &&
		v=$(mlops --json dataset show rg | json_num version) &&
		mlops -q dataset rm rg@v$v >/dev/null && git checkout -q mlops.lock &&
		rm "$R/refs/datasets/rg/v$v"
	} &&
	remote_garbage probe &&
	dur=$(time_us "$MLOPS_BIN" -q gc --remote origin --grace now) &&
	say "one gc --remote takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		remote_garbage $k || return 1
		crash_run $k $dur 97 "$MLOPS_BIN" -q gc --remote origin --grace now
		after_kill mlops fsck --remote origin &&
		make_version "after-rgc$k" && mlops -q dataset add data --name pushed &&
		mlops -q push 2>err.push || { cat err.push >&2; return 1; }
		k=$((k + 1))
	done &&
	mlops -q gc --remote origin --grace now && ! grep -q "\"gc\"" "$R/MLOPS_REMOTE" &&
	mlops fsck --remote origin &&
	check_pushed
'

test_expect_success 'kill -9 during import: imported versions are whole, a retry completes' '
	mkdir src && (cd src && git init -q && mlops -q init) &&
	make_version imp-probe && mv data src/ && mlops -C src -q dataset add data --name imp &&
	mlops -C src -q export imp@v1 ../probe.tgz &&
	dur=$(time_us "$MLOPS_BIN" -q import probe.tgz) && say "one import takes ${dur} us" &&
	kills=$((3 * stress)) && k=0 && : >saved.imp &&
	while [ $k -lt $kills ]; do
		make_version "imp$k" && sum=$(checksum data) && rm -rf src/data && mv data src/ &&
		mlops -C src -q dataset add data --name imp &&
		v=$(mlops -C src --json dataset show imp | json_num version) &&
		mlops -C src -q export imp@v$v ../b$k.tgz || return 1
		if crash_run $k $dur 89 "$MLOPS_BIN" --json import b$k.tgz; then
			name=$(json_str new_name <out.$k) && echo "${name#datasets/} $sum" >>saved.imp
		fi
		after_kill mlops --json import b$k.tgz &&
		mlops --json import b$k.tgz >j && name=$(json_str new_name <j) && test -n "$name" &&
		echo "${name#datasets/} $sum" >>saved.imp || return 1
		k=$((k + 1))
	done &&
	test $(sort -u saved.imp | wc -l) = $kills &&
	while read -r rev sum; do
		rm -rf out && mlops -q dataset checkout "$(echo $rev | sed "s,/,@,")" --to out &&
		test "$(checksum out/data)" = "$sum" || { echo "$rev differs" >&2; return 1; }
	done <saved.imp &&
	! ls .mlops/tmp | grep -q "^import-" &&
	mlops -q gc --grace now && test -z "$(ls .mlops/tmp)"
'

# One of the concurrent workers: add a dataset version, register a model
# version (explicit for even J, bumped for odd J), promote it; each
# command under a timeout, so that a deadlock fails instead of hanging.
cat >worker.sh <<'EOF'
#!/bin/sh
j=$1 name=$2
t() { timeout 60 "$MLOPS_BIN" "$@"; }
t -q dataset add c$j --name $name || exit 1
if [ $((j % 2)) = 0 ]; then
	t --json register conc c$j/f --version v1.$j.0 >reg.$j || exit 2
else
	t --json register conc c$j/f >reg.$j || exit 2
fi
v=$(sed -n "s/.*\"version\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" reg.$j)
stage=staging; [ $((j % 2)) = 1 ] && stage=prod
t --json register promote conc@$v $stage >prom.$j || exit 3
echo "conc@$v $(sed -n "s/.*\"tag\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" prom.$j)" >done.$j
EOF
chmod +x worker.sh

test_expect_success '8 processes adding, registering and promoting at once' '
	n=$((8 * stress)) && j=0 &&
	while [ $j -lt $n ]; do
		mkdir -p c$j && echo "content $j" >c$j/f && seq 1 $((j * 1000)) >c$j/g &&
		j=$((j + 1))
	done &&
	t0=$(date +%s) &&
	j=0 && pids= && while [ $j -lt $n ]; do
		name=same; [ $((j % 2)) = 1 ] && name=own$j
		( ./worker.sh $j $name >add.$j 2>&1; echo $? >rc.$j ) &
		pids="$pids $!" && j=$((j + 1))
	done && for p in $pids; do wait $p; done && say "$n workers took $(($(date +%s) - t0)) s" &&
	j=0 && while [ $j -lt $n ]; do
		test "$(cat rc.$j)" = 0 || { echo "worker $j: $(cat rc.$j)" >&2; cat add.$j >&2; return 1; }
		j=$((j + 1))
	done &&
	test $(mlops --json dataset log same | grep -c "\"version\"") = $((n / 2)) &&
	for v in $(seq 1 $((n / 2))); do
		rm -rf out && mlops -q dataset checkout same@v$v --to out || return 1
		ls out | grep -q "^c[0-9]*$" || return 1
	done &&
	cat done.* >done && test $(wc -l <done) = $n &&
	git tag -l "conc*" >tags &&
	while read -r v tag; do
		grep -qxF "$v" tags && grep -qxF "$tag" tags || { echo "$v or $tag lost" >&2; return 1; }
		mlops -q register show "$v" >/dev/null || return 1
	done <done &&
	test $(grep -c "^conc@v" tags) = $n &&
	test $(grep -c "^conc#prod#" tags) = $((n / 2)) &&
	test $(grep -c "^conc#staging#" tags) = $((n / 2)) &&
	test $(cut -d" " -f1 done | sort -u | wc -l) = $n &&
	mlops register history conc >hist && test $(grep -c . hist) -ge $((2 * n)) &&
	mlops fsck && ! test -e .mlops/lock
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

test_expect_success 'kill -9 during a pull into a clone: fsck stays clean, the next pull completes' '
	make_version pull-probe && mlops -q dataset add data --name pulled && mlops -q push &&
	git add mlops.lock && git commit -q -m pull-probe && sum=$(checksum data) &&
	fresh_clone() {
		rm -rf pc && git clone -q . pc &&
		(cd pc && mlops -q init && mlops -q remote add origin "$R" --default)
	} &&
	fresh_clone && dur=$(time_us "$MLOPS_BIN" -C pc -q pull) && say "one pull takes ${dur} us" &&
	test "$(checksum pc/data)" = "$sum" &&
	kills=$((3 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		fresh_clone || return 1
		crash_run $k $dur 37 "$MLOPS_BIN" -C pc -q pull
		(cd pc && after_kill mlops -q pull && test "$(checksum data)" = "$sum" &&
			! test -e .mlops/pull-new) || return 1
		k=$((k + 1))
	done
'

# After a checkout was killed: no path reads as a change (a path half
# made is interrupted), and the next checkout completes without --force,
# leaving no temporary file.
after_checkout_kill() {
	mlops --json status >j && ! grep -q "\"state\":[[:space:]]*\"modified\"" j || { cat j >&2; return 1; }
	after_kill mlops -q checkout && mlops status --exit-code >/dev/null && ! test -e .mlops/pull-new &&
	test -z "$(find data -name ".*.mlops-*")" &&
	{ test "$(checksum data)" = "$1" || test "$(checksum data)" = "$2"; }
}

test_expect_success 'kill -9 during checkout: no path reads as a change, the next checkout completes' '
	echo /ckr/ >>.git/info/exclude && git init -q ckr && cd ckr && mlops -q init &&
	make_version co-a && mlops -q dataset add data --name co && sa=$(checksum data) &&
	make_version co-b && mlops -q dataset add data --name co && sb=$(checksum data) &&
	git add -A && git commit -qm co &&
	rm -rf data && dur=$(time_us "$MLOPS_BIN" -q checkout) && say "one checkout takes ${dur} us" &&
	kills=$((4 * stress)) && k=0 &&
	while [ $k -lt $kills ]; do
		# Into nothing, then over the other version.
		rm -rf data
		crash_run $k $dur 11 "$MLOPS_BIN" -q checkout
		after_checkout_kill "$sb" "$sb" || return 1
		crash_run $k $dur 23 "$MLOPS_BIN" -q dataset checkout co@v1
		after_checkout_kill "$sa" "$sb" && git checkout -q mlops.lock && mlops -q checkout || return 1
		k=$((k + 1))
	done
'

test_done
