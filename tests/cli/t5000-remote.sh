#!/bin/sh
# mlops remote, push, fetch, pull with a directory remote.
. "$(dirname "$0")/lib.sh"

R=$TRASH/remote

# Count the files below a folder.
count_files() { find "$1" -type f 2>/dev/null | wc -l; }

# A JSON number field from a file.
jnum() { sed -n "s/.*\"$1\":[[:space:]]*\([0-9.]*\).*/\1/p" "$2" | head -1; }

test_expect_success 'remote add, list, remove' '
	mkdir cfg && cd cfg && git init -q && mlops -q init &&
	mlops remote add origin ../somewhere --default >out &&
	grep -q "added remote .origin. (default)" out &&
	mlops remote add backup file:///srv/backup &&
	mlops remote add cloud s3://bucket/team/data --endpoint http://127.0.0.1:9 --region eu-west-1 --profile p &&
	mlops remote list >out &&
	grep -q "^origin	.*/somewhere (default)$" out &&
	grep -q "^backup	/srv/backup$" out &&
	grep -q "^cloud	s3://bucket/team/data$" out &&
	git config -f .mlops/config remote.cloud.endpoint >ep && grep -q 127.0.0.1:9 ep &&
	git config -f .mlops/config core.remote >d && grep -qx origin d &&
	mlops --json remote list >j && grep -q "\"default\":[[:space:]]*true" j &&
	mlops remote remove backup && mlops remote list >out && ! grep -q backup out
'

test_expect_success 'remote remove takes that remote only' '
	cd cfg &&
	mlops -q remote add a ../ra && mlops -q remote add a.backup ../rb &&
	mlops -q remote add a. ../rc && mlops -q remote add ab ../rd &&
	mlops remote remove a &&
	mlops remote list >out &&
	grep -q "^a\.backup	" out && grep -q "^a\.	" out && grep -q "^ab	" out && ! grep -q "^a	" out &&
	! grep -q "^[[:space:]]*url = .*/ra$" .mlops/config &&
	mlops remote remove a. && mlops remote remove a.backup && mlops remote remove ab &&
	! grep -q "^[[:space:]]*url = .*/r[bcd]$" .mlops/config && grep -q "remote \"origin\"" .mlops/config
'

test_expect_success 'remote add refuses bad names, bad URLs and taken names' '
	cd cfg &&
	test_expect_code 2 mlops remote add "bad name" /tmp/x 2>err && grep -q "not a valid remote name" err &&
	test_expect_code 2 mlops remote add x ftp://host/x 2>err && grep -q "unknown URL scheme" err &&
	test_expect_code 2 mlops remote add x s3:// 2>err &&
	test_expect_code 9 mlops remote add origin /elsewhere 2>err && grep -q "already exists" err &&
	test_expect_code 3 mlops remote remove nosuch 2>err
'

test_expect_success 'remote add refuses credentials in an S3 URL or endpoint, never showing them' '
	cd cfg &&
	test_expect_code 2 mlops remote add k s3://AKID:SECRET9@bkt/px 2>err &&
	grep -q "holds credentials (user:password@): put them in the environment or ~/.aws/credentials" err &&
	test_expect_code 2 mlops remote add k s3://bkt/px --endpoint http://user:SECRET9@127.0.0.1:40002 2>err &&
	grep -q "holds credentials" err &&
	test_expect_code 2 mlops remote add k /tmp/k --endpoint https://u:SECRET9@127.0.0.1 2>err &&
	test_expect_code 2 mlops remote add k s3x://u:SECRET9@host/x 2>err &&
	! grep -q SECRET9 err .mlops/config && ! mlops remote list | grep -q "^k	" &&
	git config -f .mlops/config remote.hand.url s3://AKID:SECRET9@bkt/px &&
	test_expect_code 2 mlops push hand 2>err && grep -q "holds credentials" err &&
	test_expect_code 9 mlops remote add hand s3://bkt/other 2>err && grep -q "already exists" err &&
	git config -f .mlops/config remote.hand.url s3://bkt/px &&
	git config -f .mlops/config remote.hand.endpoint http://u:SECRET9@127.0.0.1:9 &&
	test_expect_code 2 mlops fetch hand 2>err && grep -q "holds credentials" err &&
	! grep -q SECRET9 err && git config -f .mlops/config --remove-section remote.hand
'

test_expect_success 'remote add checks S3 bucket names, endpoints and prefixes' '
	cd cfg &&
	for b in ab Bad_Bucket -bkt bkt- a..b 192.168.1.1 bkt_x $(printf "%064d" 0); do
		test_expect_code 2 mlops remote add k s3://$b/x 2>err &&
		grep -q "invalid s3 bucket name" err || return 1
	done &&
	for e in ftp://127.0.0.1 http://127.0.0.1:9/path "http://127.0.0.1:9?x=1" http://127.0.0.1:x http:// 127.0.0.1:9; do
		test_expect_code 2 mlops remote add k s3://bkt/x --endpoint "$e" 2>err &&
		grep -q "s3 endpoint" err || return 1
	done &&
	for u in s3://bkt/../up s3://bkt2/a/../../up s3://bkt/a//b s3://bkt//a s3://bkt/./a s3://bkt/a/. s3://bkt/a// s3://bkt//; do
		test_expect_code 2 mlops remote add k "$u" 2>err &&
		grep -q "must not have empty (.//.), .\.. or .\.\.. segments" err || return 1
	done &&
	! mlops remote list | grep -q "^k	" &&
	mlops -q remote add k1 s3://my.bucket-1/a/b/ --endpoint http://127.0.0.1:9000/ &&
	mlops -q remote add k2 s3://abc --endpoint "https://[::1]:9000" &&
	mlops remote remove k1 >/dev/null && mlops remote remove k2 >/dev/null &&
	test_expect_code 2 mlops remote add k3 s3://abc --addressing dns 2>err &&
	grep -q "neither .path. nor .virtual." err &&
	mlops -q remote add k3 s3://abc --endpoint http://127.0.0.1:9 --addressing virtual &&
	test "$(git config -f .mlops/config remote.k3.addressing)" = virtual &&
	mlops remote remove k3 >/dev/null
'

test_expect_success 'remote add refuses S3 options for a directory remote, naming the option' '
	cd cfg &&
	for o in "--endpoint http://127.0.0.1:9" "--region eu-west-1" "--profile p" "--addressing path"; do
		test_expect_code 2 mlops remote add d3 ../d3 $o 2>err &&
		grep -qx "mlops: ${o%% *} is an option of S3 remotes only, and .\.\./d3. is a directory" err ||
		return 1
	done &&
	test_expect_code 2 mlops remote add d3 "file://$TRASH/d3" --default --profile p --region r 2>err &&
	grep -q "^mlops: --profile is an option of S3 remotes only" err &&
	test_expect_code 2 mlops remote add d3 ../d3 --endpoint http://u:SECRET9@127.0.0.1:9 2>err &&
	! grep -q SECRET9 err && ! test -e ../d3 && ! mlops remote list | grep -q "^d3	" &&
	! grep -q "d3" .mlops/config
'

test_expect_success 'remote add refuses an empty or relative file URL, and a folder in the work tree' '
	cd cfg &&
	test_expect_code 2 mlops remote add g file:// 2>err && grep -q "file:///PATH" err &&
	test_expect_code 2 mlops remote add g file://../dir 2>err && grep -q "file:///PATH" err &&
	test_expect_code 2 mlops remote add g . 2>err && grep -q "in this repository.s work tree" err &&
	test_expect_code 2 mlops remote add g ./store 2>err && grep -q "work tree" err &&
	test_expect_code 2 mlops remote add g .mlops/store 2>err &&
	test_expect_code 2 mlops remote add g "file://$TRASH/work/cfg/sub" 2>err &&
	ln -s "$TRASH/work/cfg" ../cfg-link &&
	test_expect_code 2 mlops remote add g ../cfg-link/store 2>err &&
	! test -e store && ! test -e .mlops/store && ! mlops remote list | grep -q "^g	" &&
	git config -f .mlops/config remote.inside.url "$TRASH/work/cfg/in" &&
	test_expect_code 2 mlops push inside 2>err && grep -q "work tree" err && ! test -e in &&
	git config -f .mlops/config --remove-section remote.inside
'

test_expect_success 'a relative folder written into the config by hand is taken from the work tree top' '
	cd cfg && mkdir -p deep/er && mkdir ../handrel &&
	git config -f .mlops/config remote.handrel.url ../handrel &&
	(cd deep/er && mlops -q push handrel) &&
	test -f ../handrel/MLOPS_REMOTE && ! test -e deep/handrel && ! test -e ../cfg/deep/handrel &&
	git config -f .mlops/config remote.handin.url deep/store &&
	(cd deep/er && test_expect_code 2 mlops push handin 2>../../err) &&
	grep -q "work tree" err && ! test -e deep/store && ! test -e deep/er/deep &&
	git config -f .mlops/config --remove-section remote.handrel &&
	git config -f .mlops/config --remove-section remote.handin && rm -r deep
'

test_expect_success 'remote add makes a new folder; push and fetch refuse a missing one (not mounted?)' '
	cd cfg && mlops -q remote add fresh ../fresh-store && test -d ../fresh-store &&
	mlops -q remote add nas ../nas/store 2>err && ! test -e ../nas &&
	grep -q "^mlops: warning: .*/nas/store. does not exist and its parent is missing" err &&
	grep -q "push and fetch refuse the remote until the folder exists" err &&
	test_expect_code 10 mlops push nas 2>err && grep -q "does not exist: is it mounted?" err &&
	grep -q "never make a remote.s folder" err && ! grep -q "made by .mlops remote add." err &&
	test_expect_code 10 mlops fetch nas 2>err && grep -q "does not exist" err &&
	test_expect_code 10 mlops pull nas 2>err && ! test -e ../nas &&
	mlops -q push fresh && test -f ../fresh-store/MLOPS_REMOTE &&
	mlops -q remote remove fresh && mlops -q remote remove nas
'

test_expect_success 'no credentials are written to the config' '
	cd cfg && ! grep -qi "secret\|access_key\|password" .mlops/config
'

test_expect_success 'remote list never shows credentials a hand-edited URL holds' '
	cd cfg && git config -f .mlops/config remote.handmade.url "s3://AKID:Hidden99@bkt/px" &&
	mlops remote list >out && mlops --json remote list >j &&
	git config -f .mlops/config --remove-section remote.handmade &&
	grep -q "^handmade	s3://\*\*\*@bkt/px" out && ! grep -q Hidden99 out j
'

test_expect_success 'set up a repository with data' '
	git init -q a && cd a && mlops -q init &&
	mkdir -p data/small data/img && i=0 &&
	while [ $i -lt 300 ]; do echo "row $i" >data/small/f$i.txt; i=$((i + 1)); done &&
	head -c 3000000 /dev/urandom >data/img/big.bin &&
	head -c 100000 /dev/urandom >data/img/solo.bin &&
	printf "a,b\n1,2\n" >data/t.csv && ln -s t.csv data/link &&
	mlops -q dataset add data --name train -m first &&
	mlops remote add origin "$R" --default &&
	git add -A && git commit -qm "data v1"
'

test_expect_success 'push sends everything, small objects in packs, refs last' '
	cd a && mlops --json push >$TRASH/j &&
	j=$TRASH/j &&
	test "$(jnum objects_sent $j)" = "$(jnum objects $j)" &&
	test "$(jnum packs $j)" -ge 1 &&
	test -f "$R/refs/datasets/train/v1" &&
	test "$(cat "$R/refs/datasets/train/v1")" = "$(cat .mlops/refs/datasets/train/v1)" &&
	test $(count_files "$R/objects") -lt 50 &&
	ls "$R"/packs/*.idx >/dev/null
'

test_expect_success 'a second push sends nothing and asks little' '
	cd a && mlops --json push >$TRASH/j && j=$TRASH/j &&
	test "$(jnum objects_sent $j)" = 0 &&
	test "$(jnum listings $j)" = 0 && test "$(jnum checks $j)" = 0 &&
	grep -q "\"status\":[[:space:]]*\"up-to-date\"" $j
'

test_expect_success 'clone elsewhere: git clone, init, remote add, pull gives identical bytes' '
	git clone -q a b && cd b && mlops -q init &&
	mlops remote add origin "$R" &&
	mlops pull >out &&
	grep -q "datasets/train/v1: new" out &&
	(cd ../a/data && find . -type f -exec sha256sum {} + | sort) >$TRASH/want &&
	(cd data && find . -type f -exec sha256sum {} + | sort) >$TRASH/got &&
	test_cmp $TRASH/want $TRASH/got &&
	test "$(readlink data/link)" = t.csv &&
	mlops dataset list >l && grep -q "^train  *v1" l &&
	mlops status --exit-code && mlops fsck
'

test_expect_success 'a fresh clone pulls without mlops init: the first command finishes its store' '
	git clone -q a noinit && cd noinit && test ! -d .mlops/objects &&
	mlops pull >../out && grep -q "datasets/train/v1: new" ../out &&
	test "$(cat .mlops/format)" = 1 && test -d .mlops/objects && test -d .mlops/tmp &&
	test -z "$(git status --porcelain)" &&
	mlops status --exit-code && mlops fsck &&
	cd .. && git clone -q a noinit2 && cd noinit2 &&
	mlops status >/dev/null && test -d .mlops/objects && mlops -q push && mlops -q pull
'

test_expect_success 'a fresh clone on a read-only mount is read, not set up' '
	test "$(id -u)" = 0 && test_have_cmd mount || return 0
	git clone -q a roclone && mkdir romnt &&
	mount --bind roclone romnt 2>/dev/null || return 0
	mount -o remount,ro,bind romnt 2>/dev/null || { umount romnt; return 0; }
	( cd romnt && mlops status >../ro-status.out 2>&1 && mlops dataset list >../ro-list.out 2>&1 &&
	  test ! -d .mlops/objects ); rc=$?
	umount romnt
	cat ro-status.out ro-list.out && test $rc = 0 && grep -q "^  data (train@v1)$" ro-status.out
'

test_expect_success 'pull again changes nothing' '
	cd b && mlops --json pull >$TRASH/j &&
	test "$(jnum objects_received $TRASH/j)" = 0 &&
	test "$(jnum files_removed $TRASH/j)" = 0 &&
	test "$(jnum objects_present $TRASH/j)" -gt 0 &&
	test "$(jnum objects_present $TRASH/j)" = "$(jnum objects $TRASH/j)" &&
	mlops pull >out && grep -q "objects: 0 received .*, [1-9][0-9]* already there" out &&
	mlops status --exit-code
'

test_expect_success 'pull refuses to overwrite unrecorded changes' '
	cd b && echo mine >>data/t.csv &&
	test_expect_code 9 mlops pull 2>err && grep -q "not recorded" err &&
	grep -q mine data/t.csv &&
	mlops -q pull --force && ! grep -q mine data/t.csv
'

test_expect_success 'fetch brings new versions; pull checks out what the lock says' '
	cd a && echo more >data/small/new.txt && mlops -q dataset add data --name train -m second &&
	git add -A && git commit -qm "data v2" && mlops -q push &&
	cd ../b && mlops fetch >out && grep -q "datasets/train/v2: new" out &&
	! test -e data/small/new.txt &&
	git pull -q && mlops -q pull && test "$(cat data/small/new.txt)" = more
'

test_expect_success 'push REV sends only that version' '
	cd a && mkdir other && echo o >other/x && mlops -q dataset add other &&
	mlops --json push origin other@v1 >$TRASH/j &&
	grep -q "datasets/other/v1" $TRASH/j && ! grep -q "datasets/train" $TRASH/j &&
	test -f "$R/refs/datasets/other/v1"
'

test_expect_success 'push of a ref or a version this repository lacks is not found (exit 3), and sends nothing' '
	cd a && mlops -q push origin datasets/other/v1 &&
	test_expect_code 3 mlops push origin datasets/nosuch/v1 2>$TRASH/err &&
	grep -q "^mlops: ref .datasets/nosuch/v1. not found$" $TRASH/err &&
	test_expect_code 3 mlops push origin datasets/other/v1 nosuch@v1 2>$TRASH/err &&
	grep -q "nosuch" $TRASH/err &&
	test_expect_code 3 mlops push origin models/nosuch/v0.1.0 2>$TRASH/err &&
	! test -e "$R/refs/datasets/nosuch" && ! test -e "$R/refs/models/nosuch"
'

test_expect_success 'a name the remote does not have is named, without the hint to add a remote' '
	cd a &&
	test_expect_code 3 mlops pull nosuch 2>$TRASH/err &&
	grep -q "remote .origin. has nothing named nosuch" $TRASH/err &&
	! grep -q "remote add" $TRASH/err
'

test_expect_success 'an interrupted push (kill -9) resumes and refs appear only at the end' '
	cd a && mkdir heavy && i=0 &&
	while [ $i -lt 40 ]; do head -c 100000 /dev/urandom >heavy/h$i; i=$((i + 1)); done &&
	mlops -q dataset add heavy &&
	before=$(count_files "$R/packs") || return 1
	# 4 MB of large objects with one job: four packs of ten, 100 ms apart.
	(MLOPS_TEST_TRANSFER_DELAY_MS=100 exec "$MLOPS_BIN" push -j 1 >/dev/null 2>&1) & pid=$!
	n=0
	while [ $(count_files "$R/packs") -lt $((before + 2)) ] && [ $n -lt 300 ]; do
		sleep 0.05; n=$((n + 1))
	done
	kill -9 $pid; wait $pid
	got=0 && i=0 &&
	while [ $i -lt 40 ]; do
		test -n "$(remote_pack_entry "$R" $(sha256sum heavy/h$i | cut -c1-64))" && got=$((got + 1))
		i=$((i + 1))
	done &&
	test $got -ge 10 && test $got -lt 40 &&
	! test -e "$R/refs/datasets/heavy" &&
	mlops --json push >$TRASH/j &&
	sent=$(jnum objects_sent $TRASH/j) &&
	test "$sent" -gt 0 && test "$sent" -le $((40 - got + 2)) &&
	test -f "$R/refs/datasets/heavy/v1" &&
	mlops fsck --remote origin
'

test_expect_success 'large objects travel in packs named by their index' '
	cd a && id=$(sha256sum heavy/h7 | cut -c1-64) &&
	set -- $(remote_pack_entry "$R" $id) && test -f "$1" &&
	test "$(basename $1 .pack).idx" = "$(basename $(ls "$R"/packs/$(basename $1 .pack).idx))" &&
	test "$3" = 100000 &&
	tail -c +$(($2 + 1)) "$1" | head -c 100000 | cmp - heavy/h7 &&
	! test -e "$R/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)"
'

test_expect_success 'two clones pushing versions of the same dataset both survive' '
	git clone -q a c1 && git clone -q a c2 &&
	for c in c1 c2; do
		(cd $c && mlops -q init && mlops -q remote add origin "$R" 2>/dev/null; mlops -q pull) || return 1
	done &&
	(cd c1 && mkdir shared && echo one >shared/f && mlops -q dataset add shared && mlops -q push) &&
	(cd c2 && mkdir shared && echo two >shared/f && mlops -q dataset add shared &&
	 mlops push >out 2>err && grep -q "renumbered" out && grep -q "note: datasets/shared/v1 is now datasets/shared/v2" err &&
	 test -f .mlops/refs/datasets/shared/v2 && ! test -f .mlops/refs/datasets/shared/v1 &&
	 grep -q "\"version\":2" mlops.lock) &&
	test "$(cat "$R/refs/datasets/shared/v1")" = "$(cat c1/.mlops/refs/datasets/shared/v1)" &&
	test "$(cat "$R/refs/datasets/shared/v2")" = "$(cat c2/.mlops/refs/datasets/shared/v2)" &&
	(cd c1 && mlops -q fetch && mlops dataset checkout shared@v2 --to ../seen >/dev/null) &&
	test "$(cat seen/shared/f)" = two
'

test_expect_success 'concurrent pushes from two clones lose no version' '
	(cd c1 && mkdir conc && echo A >conc/f && mlops -q dataset add conc) &&
	(cd c2 && mkdir conc && echo B >conc/f && mlops -q dataset add conc) || return 1
	(cd c1 && mlops push >o1 2>&1) & p1=$!
	(cd c2 && mlops push >o2 2>&1) & p2=$!
	wait $p1 && wait $p2 &&
	test -f "$R/refs/datasets/conc/v1" && test -f "$R/refs/datasets/conc/v2" &&
	! test -e "$R/refs/datasets/conc/v3" &&
	cat "$R/refs/datasets/conc/v1" "$R/refs/datasets/conc/v2" | sort >remote_ids &&
	cat c1/.mlops/refs/datasets/conc/v* c2/.mlops/refs/datasets/conc/v* | sort >local_ids &&
	test_cmp local_ids remote_ids
'

test_expect_success 'a failed pull leaves a path it had as it was, and lands no new one' '
	cd a && echo three >data/small/third.txt && mkdir extra && echo e >extra/e.txt &&
	mlops -q dataset add data --name train -m third && mlops -q dataset add extra &&
	git add -A && git commit -qm "data v3" &&
	ls "$R"/packs >$TRASH/before && mlops -q push && ls "$R"/packs >$TRASH/after &&
	mkdir -p $TRASH/away && for f in $(comm -13 $TRASH/before $TRASH/after); do
		mv "$R/packs/$f" $TRASH/away/ || return 1
	done &&
	test "$(ls $TRASH/away | wc -l)" -ge 1 &&
	cd ../b && git pull -q && (cd data && find . -type f -exec sha256sum {} + | sort) >$TRASH/had &&
	test_must_fail mlops pull 2>err && grep -q "is missing" err &&
	(cd data && find . -type f -exec sha256sum {} + | sort) >$TRASH/has &&
	test_cmp $TRASH/had $TRASH/has && ! test -e extra &&
	test -z "$(find . -name ".*.mlops-*")" &&
	mv $TRASH/away/* "$R"/packs/ &&
	mlops -q pull && test "$(cat data/small/third.txt)" = three && test "$(cat extra/e.txt)" = e &&
	mlops status --exit-code
'

test_expect_success 'a failed pull removes the folders it made for new paths, and no other' '
	cd a && mkdir -p deep/er/ds keep/sub/ds2 && head -c 100000 /dev/urandom >deep/er/ds/x.bin &&
	echo y >deep/er/ds/y && head -c 100000 /dev/urandom >keep/sub/ds2/z.bin &&
	mlops -q dataset add deep/er/ds && mlops -q dataset add keep/sub/ds2 &&
	git add -A && git commit -qm nested &&
	ls "$R"/packs >$TRASH/before && mlops -q push && ls "$R"/packs >$TRASH/after &&
	mkdir -p $TRASH/away-nested && for f in $(comm -13 $TRASH/before $TRASH/after); do
		mv "$R/packs/$f" $TRASH/away-nested/ || return 1
	done &&
	cd ../b && git pull -q && mkdir keep &&
	test_must_fail mlops pull 2>err && grep -q "is missing" err &&
	! test -e deep && test -d keep && test -z "$(ls -A keep)" && ! test -e .mlops/pull-new
'

test_expect_success 'the folders a killed pull made go when the next pull fails, and come back when one succeeds' '
	cd b && mv $TRASH/away-nested/* "$R"/packs/ || return 1
	# The fetch waits 5 s before its first transfer; the checkout makes the folders meanwhile.
	(MLOPS_TEST_TRANSFER_DELAY_MS=5000 exec "$MLOPS_BIN" pull >/dev/null 2>&1) & pid=$!
	n=0
	while ! test -d deep/er/ds && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
	kill -9 $pid; wait $pid
	test -d deep/er/ds && test -e .mlops/pull-new &&
	for f in $(comm -13 $TRASH/before $TRASH/after); do
		mv "$R/packs/$f" $TRASH/away-nested/ || return 1
	done &&
	{ test_must_fail mlops pull 2>err && grep -q "is missing" err &&
	  ! test -e deep && test -d keep && test -z "$(ls -A keep)" && ! test -e .mlops/pull-new; }
	rc=$?
	mv $TRASH/away-nested/* "$R"/packs/ && test $rc = 0 && mlops -q pull &&
	cmp deep/er/ds/x.bin ../a/deep/er/ds/x.bin && cmp keep/sub/ds2/z.bin ../a/keep/sub/ds2/z.bin &&
	mlops status --exit-code
'

test_expect_success 'a corrupted object on the remote is detected at pull, and no ref is written' '
	id=$(sha256sum a/data/img/solo.bin | cut -c1-64) && e=$(remote_pack_entry "$R" $id) &&
	# In a pack of large objects, or alone when no other fitted beside it.
	if [ -n "$e" ]; then set -- $e; else set -- "$R/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)" 0; fi &&
	test -f "$1" &&
	chmod u+w "$1" && flip_byte "$1" $(($2 + 1000)) &&
	git clone -q a d && cd d && mlops -q init && { mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	test_expect_code 7 mlops pull 2>err &&
	grep -q "$id" err && grep -q corrupt err &&
	! test -e .mlops/refs/datasets && ! ls .mlops/tmp | grep -q "^fetch-" &&
	! test -e data && test -z "$(find . -name ".*.mlops-*")" &&
	test_expect_code 1 mlops fsck --remote origin >out 2>&1 && grep -q "corrupt $id" out
'

test_expect_success 'a damaged pack is detected at fetch' '
	pack=$(ls "$R"/packs/*.pack | head -1) &&
	chmod u+w "$pack" && flip_byte "$pack" 20 &&
	mkdir fresh && cd fresh && git init -q && mlops -q init && mlops -q remote add origin "$R" &&
	test_expect_code 7 mlops fetch 2>err && grep -q "pack .* is corrupt" err
'

test_expect_success 'a damaged ref on the remote is skipped by fetch and pull, with a warning' '
	git init -q dmg && cd dmg && mlops -q init && echo 1 >f && mlops -q dataset add f --name t &&
	echo 2 >f && mlops -q dataset add f --name t &&
	mlops -q remote add origin "$TRASH/dmg-remote" && git add -A && git commit -qm t && mlops -q push &&
	echo garbage >"$TRASH/dmg-remote/refs/datasets/t/v1" &&
	cd .. && git clone -q dmg dmg2 && cd dmg2 && mlops -q init &&
	mlops pull >out 2>err && test "$(cat f)" = 2 &&
	grep -q "warning: remote ref .datasets/t/v1. is damaged.*skipped.*fsck --remote origin" err &&
	grep -q "datasets/t/v1: damaged" out && grep -q "datasets/t/v2: new" out &&
	mlops --json fetch >j 2>/dev/null && grep -q "\"status\":[[:space:]]*\"damaged\"" j &&
	test_expect_code 10 mlops fetch origin t@v1 2>err && grep -q "damaged" err
'

test_expect_success 'a damaged ref on the remote is left alone by push (exit 9, the other refs go) and replaced with --force' '
	cd dmg && test -f "$TRASH/dmg-remote/refs/datasets/t/v1" &&
	echo 3 >f && mlops -q dataset add f --name t &&
	test_expect_code 9 mlops push >out 2>err &&
	grep -q "^mlops: datasets/t/v1: rejected: the remote.s ref is damaged (it holds no id; .mlops fsck --remote origin. reports it)$" err &&
	grep -q "hint: use --force" err &&
	grep -q "datasets/t/v1: damaged" out && grep -q "datasets/t/v3: new" out &&
	test "$(cat "$TRASH/dmg-remote/refs/datasets/t/v1")" = garbage &&
	test_expect_code 9 mlops --json push >j 2>/dev/null &&
	grep -q "\"status\":[[:space:]]*\"damaged\"" j &&
	test_expect_code 1 mlops fsck --remote origin >/dev/null 2>&1 &&
	mlops push --force >out && grep -q "datasets/t/v1: updated" out &&
	test "$(cat "$TRASH/dmg-remote/refs/datasets/t/v1")" = "$(cat .mlops/refs/datasets/t/v1)" &&
	mlops push && mlops fsck --remote origin
'

test_expect_success 'a full or read-only remote is the remote failing (exit 10), named' '
	test "$(id -u)" = 0 && test_have_cmd mount || return 0
	mkdir small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null || return 0
	mkdir small/full small/ro &&
	( git init -q tiny && cd tiny && mlops -q init && head -c 2000000 /dev/urandom >big &&
	  mlops -q dataset add big && mlops -q remote add full ../small/full &&
	  mlops -q remote add ro ../small/ro &&
	  test_expect_code 10 mlops push full 2>../full.err ) ; rc=$?
	mount -o remount,ro small && ( cd tiny && test_expect_code 10 mlops push ro 2>../ro.err ); rc2=$?
	umount small
	test $rc = 0 && test $rc2 = 0 &&
	grep -q "unable to write to remote .[^ ]*small/full.: .*small/full/.*No space left on device" full.err &&
	grep -q "unable to write to remote .*small/ro.*Read-only file system" ro.err
'

test_expect_success 'a remote of a newer format is refused before anything is written' '
	N=$TRASH/newer && mkdir -p "$N" &&
	printf "{\"epoch\":\"abc\",\"format\":3}\n" >"$N/MLOPS_REMOTE" &&
	cd a && mlops -q remote add newer "$N" &&
	test_expect_code 10 mlops push newer 2>err && grep -q "format 3, newer than this mlops understands (2); upgrade mlops" err &&
	test_expect_code 10 mlops fetch newer 2>err && grep -q "upgrade mlops" err &&
	test "$(ls "$N")" = MLOPS_REMOTE &&
	grep -q "\"format\":2" "$R/MLOPS_REMOTE"
'

test_expect_success 'a file on the remote larger than mlops reads is the remote failing (exit 10)' '
	O=$TRASH/oversize && mkdir -p "$O" && head -c 70000 /dev/zero >"$O/MLOPS_REMOTE" &&
	cd a && mlops -q remote add oversize "$O" &&
	test_expect_code 10 mlops fetch oversize 2>err &&
	grep -q "MLOPS_REMOTE. on remote .*oversize. is larger than 65536 bytes" err &&
	test_expect_code 10 mlops push oversize 2>err && grep -q "larger than" err &&
	mlops -q remote remove oversize
'

test_expect_success 'S3 settings of a directory remote in a hand-edited config: warned about once, ignored' '
	cd a && mlops -q remote add plain "$TRASH/plain" &&
	git config -f .mlops/config remote.plain.endpoint http://u:SECRET9@127.0.0.1:9 &&
	git config -f .mlops/config remote.plain.region eu-west-1 &&
	git config -f .mlops/config remote.plain.timeout soon &&
	w="^mlops: warning: remote .plain. is a directory: remote\.plain\.endpoint, remote\.plain\.region and remote\.plain\.timeout are settings for S3 remotes only, and ignored$" &&
	mlops push plain >out 2>err && test $(grep -c "$w" err) = 1 && test -f "$TRASH/plain/MLOPS_REMOTE" &&
	mlops pull plain >out 2>err && test $(grep -c "$w" err) = 1 &&
	mlops fsck --remote plain >out 2>err && test $(grep -c "$w" err) = 1 &&
	mlops gc --remote plain --dry-run >out 2>err && test $(grep -c "$w" err) = 1 &&
	git config -f .mlops/config --unset remote.plain.region &&
	git config -f .mlops/config --unset remote.plain.timeout &&
	mlops fetch plain >out 2>err &&
	grep -q "remote\.plain\.endpoint is a setting for S3 remotes only, and ignored$" err &&
	! grep -q SECRET9 err && mlops -q remote remove plain
'

test_expect_success 'directory settings of an S3 remote in a hand-edited config: warned about, ignored' '
	cd a && mlops -q remote add cloudy s3://bucket/p --endpoint http://127.0.0.1:9 --region us-east-1 &&
	git config -f .mlops/config remote.cloudy.fsync false &&
	git config -f .mlops/config remote.cloudy.hardlinks true &&
	(export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s; test_expect_code 10 mlops push cloudy 2>$TRASH/err) &&
	test $(grep -c "^mlops: warning: remote .cloudy. is on S3: remote\.cloudy\.fsync and remote\.cloudy\.hardlinks are settings for directory remotes only, and ignored$" $TRASH/err) = 1 &&
	grep -q "127.0.0.1 port 9" $TRASH/err &&
	mlops -q remote remove cloudy
'

# add refuses nested paths now; a lock of an older mlops can still hold them.
test_expect_success 'a fresh clone pulls paths of the lock nested in one another' '
	git init -q n && cd n && mlops -q init && mkdir -p nest/inner &&
	echo 1 >nest/x && echo 2 >nest/inner/y && mlops -q dataset add nest/inner &&
	inner=$(grep "\"nest/inner\":" mlops.lock) && printf "{\"paths\":{},\"version\":1}\n" >mlops.lock &&
	echo 3 >nest/inner/y && mlops -q dataset add nest &&
	sed "s|^    \"nest\": .*|&,\\
$inner|" mlops.lock >lock.new && mv lock.new mlops.lock && grep -q "\"nest/inner\":" mlops.lock &&
	mlops -q remote add origin "$TRASH/nremote" && mlops -q push &&
	git add -A && git commit -qm nested && cd .. &&
	git clone -q n n2 && cd n2 && mlops -q init &&
	mlops pull >out && test "$(cat nest/x)" = 1 && test "$(cat nest/inner/y)" = 2
'

test_expect_success 'half of the S3 key pair in the environment is an error naming the other' '
	cd cfg && mlops -q remote add half s3://bkt/x --endpoint http://127.0.0.1:9 &&
	(unset AWS_SECRET_ACCESS_KEY; AWS_ACCESS_KEY_ID=AKIDHALF test_expect_code 10 mlops fetch half 2>err) &&
	grep -q "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" err &&
	mlops remote remove half >/dev/null
'

# An S3 endpoint that accepts connections and never answers.
start_stalled() {
	python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)' >"$TRASH/stall-port" 2>/dev/null &
	stall_pid=$!
	i=0
	while [ ! -s "$TRASH/stall-port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	test -s "$TRASH/stall-port"
}

if test_have_cmd python3 && test_have_cmd timeout; then
test_expect_success 'a stalled S3 endpoint: bounded by remote.NAME.timeout, each retry reported as it happens' '
	cd cfg && start_stalled && port=$(cat "$TRASH/stall-port") &&
	mlops -q remote add stalled s3://bkt/x --endpoint http://127.0.0.1:$port &&
	git config -f .mlops/config remote.stalled.timeout 1 &&
	test_expect_code 10 env AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s timeout 60 "$MLOPS_BIN" push stalled 2>err;
	rc=$?; kill $stall_pid; test $rc = 0 &&
	grep -q "^mlops: warning: get .s3://bkt/x/MLOPS_REMOTE. timed out; retrying (2 of 5)$" err &&
	grep -q "retrying (5 of 5)" err && test $(grep -c "warning:" err) = 4 &&
	tail -1 err | grep -q "^mlops: .*MLOPS_REMOTE" &&
	git config -f .mlops/config remote.stalled.timeout 0 &&
	test_expect_code 4 mlops push stalled 2>err && grep -q "remote.stalled.timeout is 0" err &&
	git config -f .mlops/config remote.stalled.timeout soon &&
	test_expect_code 4 mlops push stalled 2>err &&
	mlops remote remove stalled >/dev/null
'
else
	test_skip "python3 or timeout missing: the stalled endpoint is untested"
fi

test_expect_success 'push with no remote configured says how to add one' '
	mkdir lone && cd lone && git init -q && mlops -q init &&
	test_expect_code 3 mlops push 2>err && grep -q "no remote" err && grep -q "remote add" err
'

test_expect_success 'every command answers -h outside a repository' '
	mkdir -p /tmp/mlops-no-repo-$$ && cd /tmp/mlops-no-repo-$$ &&
	for c in push pull fetch; do
		mlops $c -h >out || return 1
		grep -q "usage: mlops $c" out || return 1
	done &&
	for s in add list remove; do
		mlops remote $s -h >out && grep -q "usage: mlops remote $s" out || return 1
	done; rc=$?; cd / && rm -rf /tmp/mlops-no-repo-$$; return $rc
'

# A clone of hm whose pull of 'big' (60 files) was killed after the first
# file: the fetch waits 1 s before each transfer (-j 1), so the pull is
# some seconds from done when the first file appears.
kill_pull_of_big() {
	rm -rf hk && git clone -q hm hk && cd hk && mlops -q init &&
	{ mlops -q remote add r "$TRASH/R2" --default 2>/dev/null; true; } || return 1
	(MLOPS_TEST_TRANSFER_DELAY_MS=1000 exec "$MLOPS_BIN" pull -j 1 >/dev/null 2>&1) & pid=$!
	n=0
	while ! test -n "$(ls big 2>/dev/null)" && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
	kill -9 $pid; wait $pid
	grep -q '"big"' .mlops/pull-new && test $(count_files big) -lt 60
}

test_expect_success 'a path a killed pull was making is not a change: status says so, dataset add refuses it' '
	mkdir hm && cd hm && git init -q && mlops -q init && mkdir big && i=0 &&
	while [ $i -lt 60 ]; do head -c 500000 /dev/urandom >big/f$i; i=$((i + 1)); done &&
	mlops -q dataset add big && mlops -q remote add r "$TRASH/R2" --default &&
	git config -f .mlops/config remote.r.hardlinks false && mlops -q push &&
	git add -A && git commit -qm big && cd .. &&
	kill_pull_of_big &&
	mlops status >out && grep -q "half made by a checkout or pull that stopped" out &&
	grep -q "^  interrupted: big (big@v1)$" out && grep -q "mlops pull" out &&
	! grep -q "modified\|dataset add" out &&
	test_expect_code 1 mlops status --exit-code >/dev/null &&
	mlops --json status >j && grep -q "\"state\":[[:space:]]*\"interrupted\"" j &&
	test_expect_code 9 mlops dataset add big 2>err &&
	grep -q "^mlops: .big. is half made by a checkout or pull that stopped; run .mlops checkout. to make it again (.mlops pull. when its version is not stored)$" err &&
	! test -e .mlops/refs/datasets/big/v2 &&
	mlops -q pull && ! test -e .mlops/pull-new && diff -r big ../hm/big && mlops status --exit-code
'

test_expect_success 'checkout makes again what a killed pull was making once its objects are stored, else says to pull' '
	kill_pull_of_big && ls big >had &&
	test_expect_code 9 mlops checkout >out 2>err && grep -q "^big: missing" out &&
	grep -q "run .mlops pull." err && ! grep -q "unrecorded" out err &&
	test -e .mlops/pull-new && ls big >has && test_cmp had has &&
	mlops -q fetch && mlops checkout >out && grep -q "^big: restored$" out &&
	! test -e .mlops/pull-new && diff -r big ../hm/big && mlops status --exit-code
'

test_expect_success 'checkout takes off .mlops/pull-new the paths it made again, and only those' '
	cd hm && mkdir -p deep/small && echo small >deep/small/s.txt && mlops -q dataset add deep/small &&
	mlops -q push && git add -A && git commit -qm small && cd .. &&
	rm -rf hk2 && git clone -q hm hk2 && cd hk2 && mlops -q init &&
	{ mlops -q remote add r "$TRASH/R2" --default 2>/dev/null; true; } &&
	mlops -q fetch r small || return 1
	# A pull killed while it made both: written here, as no kill can be
	# timed to land while both are half made and one of them is stored.
	mkdir -p big deep/small && echo half >big/f0 && echo half >deep/small/s.txt &&
	printf "[\"big\",\"deep/small\",\"deep/\"]" >.mlops/pull-new &&
	mlops status >out && grep -q "interrupted: big" out && grep -q "interrupted: deep/small" out &&
	test_expect_code 9 mlops checkout >out 2>err && grep -q "^deep/small: restored$" out &&
	grep -q "^big: missing" out && test "$(cat deep/small/s.txt)" = small &&
	test "$(cat .mlops/pull-new)" = "[\"big\"]" && test "$(cat big/f0)" = half &&
	mlops -q pull && ! test -e .mlops/pull-new && diff -r big ../hm/big && mlops status --exit-code
'

test_expect_success 'dataset checkout overwrites what a killed pull was making, as unrecorded changes it would not' '
	kill_pull_of_big && mlops -q fetch && mlops -q dataset checkout big@v1 &&
	diff -r big ../hm/big && ! grep -q "\"big\"" .mlops/pull-new 2>/dev/null &&
	mlops -q checkout && ! test -e .mlops/pull-new && mlops status --exit-code
'

test_expect_success 'paths a running pull is making are pulling, not interrupted: checkout, dataset add and pull leave them alone (exit 5)' '
	rm -rf hr && git clone -q hm hr && cd hr && mlops -q init &&
	{ mlops -q remote add r "$TRASH/R2" --default 2>/dev/null; true; } || return 1
	# Held mid-way with SIGSTOP once the first file of big is made.
	(MLOPS_TEST_TRANSFER_DELAY_MS=300 exec "$MLOPS_BIN" pull -j 1 >../hr.out 2>&1) & pid=$!
	n=0
	while ! test -n "$(ls big 2>/dev/null)" && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
	kill -STOP $pid
	{ grep -q "\"big\"" .mlops/pull-new && ls big >had &&
	  mlops status >out && grep -q "being made by a checkout or pull that is running" out &&
	  grep -q "^  in progress: big (big@v1)$" out && ! grep -q "interrupted\|stopped\|modified" out &&
	  test_expect_code 1 mlops status --exit-code >/dev/null &&
	  mlops --json status >j && grep -q "\"state\":[[:space:]]*\"pulling\"" j &&
	  test_expect_code 5 mlops checkout >out 2>err &&
	  grep -q "^mlops: .big. is being made by a checkout or pull that is running; wait for it to end$" err &&
	  test_expect_code 5 mlops dataset add big 2>err &&
	  grep -q "^mlops: .big. is being made by a checkout or pull that is running; wait for it to end$" err &&
	  test_expect_code 5 mlops pull 2>err && grep -q "being made by a checkout or pull that is running" err &&
	  ls big >has && test_cmp had has && grep -q "\"big\"" .mlops/pull-new; }
	rc=$?
	kill -CONT $pid; wait $pid; prc=$?
	cat ../hr.out && test $rc = 0 && test $prc = 0 &&
	! test -e .mlops/pull-new && diff -r big ../hm/big && mlops status --exit-code
'

test_done
