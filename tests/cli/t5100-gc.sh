#!/bin/sh
# mlops gc: deletes only what nothing needs.
. "$(dirname "$0")/lib.sh"

R=$TRASH/remote

# The path of a loose object in the local store, from its id.
obj() { ls .mlops/objects/$(echo $1 | cut -c1-2)/$(echo $1 | cut -c3-)* 2>/dev/null; }
idof() { printf "$1" | sha256sum | cut -c1-64; }

test_expect_success 'set up: a version that only an old commit lock needs' '
	git init -q && mlops -q init &&
	mkdir k && printf "K1-content\n" >k/f && mlops -q dataset add k &&
	git add -A && git commit -qm "k v1" &&
	mlops -q dataset rm k@v1 &&
	printf "K2-content\n" >k/f && mlops -q dataset add k &&
	git add -A && git commit -qm "k again" &&
	test -n "$(obj $(idof "K1-content\n"))"
'

test_expect_success 'set up: a version nothing needs' '
	mkdir t && printf "T-garbage\n" >t/f && mlops -q dataset add t &&
	mlops -q dataset rm t@v1 && git checkout -q mlops.lock &&
	test -n "$(obj $(idof "T-garbage\n"))"
'

test_expect_success '--dry-run lists what would go, with bytes, and deletes nothing' '
	find .mlops/objects -type f | sort >before &&
	mlops gc --dry-run --grace now >out &&
	grep -q "would remove $(idof "T-garbage\n") 10$" out &&
	grep -q "^would remove [1-9][0-9]* objects" out &&
	! grep -q "$(idof "K1-content\n")" out &&
	find .mlops/objects -type f | sort >after &&
	test_cmp before after
'

test_expect_success '--json of a local gc has every documented field: remote and key are null' '
	mlops --json gc --dry-run --grace now >j &&
	grep -q "\"remote\":[[:space:]]*null" j && grep -q "\"key\":[[:space:]]*null" j &&
	grep -q "\"size\":[[:space:]]*10" j
'

test_expect_success 'the grace period protects recent objects' '
	mlops --json gc >j &&
	grep -q "\"removed_objects\":[[:space:]]*0" j &&
	grep -q "\"recent\":[[:space:]]*[1-9]" j &&
	test -n "$(obj $(idof "T-garbage\n"))"
'

test_expect_success 'gc removes what nothing needs and keeps what an old commit lock needs' '
	mlops gc --grace now >out &&
	grep -q "^removed [1-9]" out &&
	test -z "$(obj $(idof "T-garbage\n"))" &&
	test -n "$(obj $(idof "K1-content\n"))" &&
	test -n "$(obj $(idof "K2-content\n"))" &&
	mlops fsck &&
	git checkout -q HEAD~1 -- mlops.lock && rm -rf k && mlops dataset status >/dev/null;
	mlops -q dataset checkout k --to co && test "$(cat co/k/f)" = K2-content &&
	git checkout -q HEAD -- mlops.lock
'

test_expect_success 'ids in git tag messages (registered models) are kept' '
	mkdir m && printf "model-bytes\n" >m/w && mlops -q dataset add m &&
	rec=$(cat .mlops/refs/datasets/m/v1) &&
	git tag -a m@v1.0.0 -m "artifact $rec" &&
	mlops -q dataset rm m@v1 && git checkout -q mlops.lock &&
	mlops -q gc --grace now &&
	test -n "$(obj $rec)" && test -n "$(obj $(idof "model-bytes\n"))" &&
	git tag -d m@v1.0.0 >/dev/null && mlops -q gc --grace now &&
	test -z "$(obj $rec)" && test -z "$(obj $(idof "model-bytes\n"))"
'

test_expect_success 'gc cleans old files in .mlops/tmp' '
	echo x >.mlops/tmp/obj-stale && touch -d "2 days ago" .mlops/tmp/obj-stale &&
	echo y >.mlops/tmp/obj-fresh &&
	mlops -q gc && ! test -e .mlops/tmp/obj-stale && test -e .mlops/tmp/obj-fresh
'

test_expect_success 'gc.grace in config' '
	git config -f .mlops/config gc.grace 0 && mlops --json gc >j &&
	grep -q "\"grace\":[[:space:]]*0" j &&
	git config -f .mlops/config gc.grace soon && test_expect_code 4 mlops gc 2>err &&
	grep -q "gc.grace" err && git config -f .mlops/config --unset gc.grace
'

test_expect_success 'a re-add of stored data protects its objects for the grace period' '
	mkdir r && printf "R-small\n" >r/s && head -c 3000000 /dev/urandom >r/big &&
	mlops -q dataset add r && mlops -q dataset rm r@v1 && git checkout -q mlops.lock &&
	find .mlops/objects -type f -exec touch -d "3 days ago" {} + &&
	mlops -v gc --dry-run >out && grep -q "would remove $(idof "R-small\n") 8$" out &&
	test $(awk "/^would remove [0-9a-f]+ [0-9]+\$/ && \$4 >= 131072" out | wc -l) -ge 2 &&
	mlops -q dataset add r && v=$(ls .mlops/refs/datasets/r) &&
	mlops -q dataset rm r@$v && git checkout -q mlops.lock &&
	mlops -v gc --dry-run >out && grep -q "^would remove" out &&
	! grep -q "$(idof "R-small\n")" out &&
	test $(awk "/^would remove [0-9a-f]+ [0-9]+\$/ && \$4 >= 131072" out | wc -l) = 0 &&
	rm .mlops/index && mlops -q dataset add r && v=$(ls .mlops/refs/datasets/r) &&
	mlops -q dataset rm r@$v && git checkout -q mlops.lock &&
	find .mlops/objects -type f -exec touch -d "3 days ago" {} + &&
	rm .mlops/index && mlops -q dataset add r && v=$(ls .mlops/refs/datasets/r) &&
	mlops -q dataset rm r@$v && git checkout -q mlops.lock &&
	mlops -v gc --dry-run >out && ! grep -q "$(idof "R-small\n")" out &&
	test $(awk "/^would remove [0-9a-f]+ [0-9]+\$/ && \$4 >= 131072" out | wc -l) = 0
'

test_expect_success 'gc --remote removes what nothing needs from a remote' '
	mlops -q remote add origin "$R" && mlops -q push &&
	mkdir g && head -c 100000 /dev/urandom >g/big && printf "small-g\n" >g/s &&
	mlops -q dataset add g && mlops -q push &&
	big=$(sha256sum g/big | cut -c1-64) &&
	test -f "$R/objects/$(echo $big | cut -c1-2)/$(echo $big | cut -c3-)" &&
	mlops -q dataset rm g@v1 && git checkout -q mlops.lock && rm "$R/refs/datasets/g/v1" &&
	mlops gc --remote origin --dry-run --grace now >out && grep -q "^would remove objects/.*$(echo $big | cut -c3-) 100000$" out &&
	test -f "$R/objects/$(echo $big | cut -c1-2)/$(echo $big | cut -c3-)" &&
	mlops gc --remote origin --grace now >out &&
	! test -f "$R/objects/$(echo $big | cut -c1-2)/$(echo $big | cut -c3-)" &&
	mlops fsck --remote origin &&
	git clone -q . ../clone && cd ../clone && mlops -q init &&
	{ mlops -q remote add origin "$R" 2>/dev/null; true; } && mlops -q pull &&
	test "$(cat k/f)" = K2-content
'

test_expect_success 'a gc of the remote during a push: the push sends again what went' '
	R2=$TRASH/remote2 && git init -q race && cd race && mlops -q init &&
	git commit -q --allow-empty -m empty && git clone -q . ../racegc &&
	mlops -q remote add origin "$R2" &&
	mkdir d && head -c 100000 /dev/urandom >d/shared && mlops -q dataset add d && mlops -q push &&
	rm "$R2/refs/datasets/d/v1" &&
	mkdir e && cp d/shared e/shared && i=0 &&
	while [ $i -lt 40 ]; do echo "e $i" >e/s$i; head -c 70000 /dev/urandom >e/f$i; i=$((i + 1)); done &&
	mlops -q dataset add e || return 1
	# The push takes the shared object as present, then takes its time.
	(MLOPS_TEST_TRANSFER_DELAY_MS=300 exec "$MLOPS_BIN" --json push -j 1 >../push.json 2>../push.err) & pid=$!
	sleep 0.4
	(cd ../racegc && mlops -q init && mlops -q remote add origin "$R2" &&
	 mlops gc --remote origin --grace now >../gc.out) &&
	wait $pid &&
	test -f "$R2/refs/datasets/e/v1" &&
	mlops fsck --remote origin &&
	cd ../racegc && mlops -q fetch && mlops -q dataset checkout e --to co &&
	cmp co/e/shared ../race/e/shared
'

# set_marker FILE [PID HOST STARTED]: write a new epoch into the remote
# marker FILE, saying that a gc runs there when PID, HOST and STARTED are
# given; renamed into place, as mlops writes it, so that a push never
# reads it half-written.
set_marker() {
	_e=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")
	if [ $# -gt 1 ]; then
		printf '{"epoch":"%s","format":2,"gc":{"host":"%s","pid":%s,"started":%s}}\n' \
			"$_e" "$3" "$2" "$4" >"$1.new"
	else
		printf '{"epoch":"%s","format":2}\n' "$_e" >"$1.new"
	fi && mv "$1.new" "$1"
}

test_expect_success 'gc --remote says on the remote that it runs, and clears it; --dry-run writes nothing' '
	cd race && M="$TRASH/remote2/MLOPS_REMOTE" && cp "$M" m.before &&
	mlops -q gc --remote origin --dry-run --grace now && cmp "$M" m.before &&
	mlops -q gc --remote origin --grace now && ! cmp -s "$M" m.before &&
	! grep -q "\"gc\"" "$M" && grep -q "\"format\":2" "$M"
'

test_expect_success 'a push waits while a gc of the remote runs, then fails saying which; no ref goes' '
	sleep 60 & gcpid=$!
	cd race && M="$TRASH/remote2/MLOPS_REMOTE" && cp "$M" m.saved &&
	set_marker "$M" $gcpid "$(hostname)" $(date +%s) &&
	mkdir w && echo w >w/f && mlops -q dataset add w &&
	git config -f .mlops/config remote.origin.gcWait 1 &&
	test_expect_code 10 mlops push 2>err &&
	grep -q "^waiting for the gc of remote .* to end (process $gcpid on $(hostname), since .*), up to 1s (remote.origin.gcWait)$" err &&
	grep -q "no ref was pushed: remote .* is being collected by gc (process $gcpid on $(hostname), since " err &&
	grep -q "push again when it ends" err &&
	test_expect_code 10 mlops -q push 2>err && ! grep -q "^waiting" err && grep -q "no ref was pushed" err &&
	! test -e "$TRASH/remote2/refs/datasets/w" &&
	kill $gcpid && cp m.saved "$M"
'

test_expect_success 'a gc marker from a killed gc, or an hour old, does not stop a push' '
	sh -c "exit 0" & dead=$!
	wait $dead
	cd race && M="$TRASH/remote2/MLOPS_REMOTE" &&
	set_marker "$M" $dead "$(hostname)" $(date +%s) &&
	mlops -q push && test -f "$TRASH/remote2/refs/datasets/w/v1" &&
	echo w2 >w/f && mlops -q dataset add w &&
	set_marker "$M" 1 elsewhere.example $(( $(date +%s) - 3601 )) &&
	mlops -q push && test -f "$TRASH/remote2/refs/datasets/w/v2" &&
	echo w3 >w/f && mlops -q dataset add w &&
	set_marker "$M" 1 elsewhere.example $(date +%s) &&
	test_expect_code 10 mlops push 2>err && grep -q "process 1 on elsewhere.example" err &&
	set_marker "$M" && mlops -q push && test -f "$TRASH/remote2/refs/datasets/w/v3" &&
	mlops fsck --remote origin
'

test_expect_success 'a push that waited for a gc sends again what the gc deleted' '
	sleep 60 & gcpid=$!
	cd race && M="$TRASH/remote2/MLOPS_REMOTE" &&
	git config -f .mlops/config remote.origin.gcWait 20 &&
	mkdir x && head -c 100000 /dev/urandom >x/big && mlops -q dataset add x && mlops -q push &&
	big=$(sha256sum x/big | cut -c1-64) &&
	obj="$TRASH/remote2/objects/$(echo $big | cut -c1-2)/$(echo $big | cut -c3-)" && test -f "$obj" &&
	mkdir y && cp x/big y/big && mlops -q dataset add y &&
	set_marker "$M" $gcpid "$(hostname)" $(date +%s) &&
	{ mlops -q push >push.out 2>&1 & pushpid=$!; } &&
	sleep 1 && rm "$obj" && set_marker "$M" && kill $gcpid &&
	{ wait $pushpid || { cat push.out >&2; false; }; } && test -f "$obj" && test -f "$TRASH/remote2/refs/datasets/y/v1" &&
	mlops fsck --remote origin
'

test_expect_success 'gc --remote removes the files killed pushes left in the remote tmp/ once older than the grace' '
	T=$R/tmp && mkdir -p "$T" && echo old >"$T/put-aaaaaa" && touch -d "2 days ago" "$T/put-aaaaaa" &&
	echo new >"$T/put-bbbbbb" && echo keep >../keep && touch -d "2 days ago" ../keep &&
	ln -s "$TRASH/keep" "$T/put-link" && touch -h -d "2 days ago" "$T/put-link" &&
	mkdir "$T/put-dir" && touch -d "2 days ago" "$T/put-dir" &&
	mlops gc --remote origin --dry-run >out &&
	grep -q "^would remove 1 leftover of interrupted pushes (unfinished uploads, temporary files)$" out &&
	test -f "$T/put-aaaaaa" &&
	mlops --json gc --remote origin --dry-run >j && grep -q "\"tmp_cleaned\":[[:space:]]*1" j &&
	mlops gc --remote origin >out &&
	grep -q "^removed 1 leftover of interrupted pushes (unfinished uploads, temporary files)$" out &&
	! test -e "$T/put-aaaaaa" && test -f "$T/put-bbbbbb" && test -L "$T/put-link" &&
	test -f ../keep && test -d "$T/put-dir" &&
	mlops --json gc --remote origin >j && grep -q "\"tmp_cleaned\":[[:space:]]*0" j &&
	echo old >"$T/put-cccccc" && touch -d "2 days ago" "$T/put-cccccc" &&
	mlops -q gc --remote origin >out && ! test -s out && ! test -e "$T/put-cccccc" &&
	mlops gc --remote origin --grace now >out && grep -q "^removed 1 leftover" out &&
	! test -e "$T/put-bbbbbb" && test -L "$T/put-link" && test -d "$T/put-dir" &&
	mlops fsck --remote origin &&
	rm -r "$T" && mlops --json gc --remote origin --grace now >j &&
	grep -q "\"tmp_cleaned\":[[:space:]]*0" j
'

test_expect_success 'gc and fsck --remote refuse a folder that is not an mlops remote, and delete nothing in it' '
	U="$TRASH/not-a-remote" && mkdir -p "$U/tmp" && echo mine >"$U/tmp/put-dddddd" &&
	touch -d "3 days ago" "$U/tmp/put-dddddd" &&
	mlops -q remote add foreign "$U" &&
	test_expect_code 10 mlops gc --remote foreign --grace now 2>err &&
	grep -q "^mlops: .*not-a-remote. is not an mlops remote: it has no MLOPS_REMOTE" err &&
	test_expect_code 10 mlops gc --remote foreign --dry-run 2>err &&
	test_expect_code 10 mlops fsck --remote foreign 2>err &&
	grep -q "is not an mlops remote" err &&
	test_expect_code 10 mlops --json fsck --remote foreign >out 2>err && ! test -s out &&
	test "$(cat "$U/tmp/put-dddddd")" = mine && ! test -e "$U/MLOPS_REMOTE" &&
	mlops -q remote remove foreign
'

test_expect_success 'gc --remote counts and lists each object of a pack it removes, keyed by the pack' '
	git init -q cnt && cd cnt && mlops -q init && mlops -q remote add origin "$TRASH/cnt-remote" &&
	mkdir t && for i in $(seq 50); do echo $i >t/f$i || return 1; done &&
	mlops -q dataset add t && mlops -q push && pack=$(ls "$TRASH"/cnt-remote/packs/*.pack) &&
	rm -r "$TRASH/cnt-remote/refs/datasets/t" && mlops -q dataset rm t@v1 && rm -f mlops.lock &&
	mlops gc --remote origin --grace now --dry-run >out &&
	grep -q "^would remove 52 objects" out &&
	grep -q "^would remove $(idof "7\n") 2 (packs/$(basename "$pack"))$" out &&
	mlops --json gc --remote origin --grace now >j &&
	grep -q "\"removed_objects\":[[:space:]]*52" j &&
	test $(grep -c "\"key\":[[:space:]]*\"packs/$(basename "$pack")\"" j) = 52 &&
	grep -q "\"id\":[[:space:]]*\"$(idof "7\n")\"" j && ! test -e "$pack"
'

test_expect_success 'gc -h outside a repository' '
	cd / && mlops gc -h >"$TRASH/out" && grep -q "usage: mlops gc" "$TRASH/out"
'

test_expect_success 'a --grace or gc.grace too long for a duration is refused, never clamped or the default' '
	for g in 1000000000000000w 15250284452472w 106751991167301d 9223372036854775808 99999999999999999999s
	do
		test_expect_code 2 mlops --json gc --dry-run --grace $g >out 2>err &&
		grep -q "'"'"'$g'"'"' is too long a duration" err && ! test -s out || return 1
	done &&
	mlops -q gc --dry-run --grace 9223372036854775807 && mlops -q gc --dry-run --grace 15250284452471w &&
	test_expect_code 2 mlops gc --dry-run --grace -5 2>err && grep -q "not a duration" err &&
	git config -f .mlops/config gc.grace 1000000000000000w && test_expect_code 4 mlops gc --dry-run 2>err &&
	grep -q "gc.grace" err && git config -f .mlops/config --unset gc.grace
'

test_done
