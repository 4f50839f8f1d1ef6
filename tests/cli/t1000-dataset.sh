#!/bin/sh
# mlops dataset add, list, log, show, checkout, diff, rm, status.
. "$(dirname "$0")/lib.sh"

mlops init -q 2>/dev/null || mlops -q init

make_tree() {
	mkdir -p "tree/a/b/c" "tree/with space" "tree/ünïcødé" &&
	printf 'hello\n' >"tree/a/hello.txt" &&
	: >"tree/a/b/empty" &&
	printf 'x%.0s' $(seq 1 3000) >"tree/a/b/c/deep.txt" &&
	printf 'spaced\n' >"tree/with space/file name.txt" &&
	printf 'utf\n' >"tree/ünïcødé/é.txt" &&
	ln -s ../hello.txt "tree/a/b/link" &&
	ln -s /etc/passwd "tree/outside-link" &&
	printf '#!/bin/sh\n' >tree/run.sh && chmod +x tree/run.sh
}

test_expect_success 'add a directory with nested folders, empty files, unicode, spaces, links' '
	make_tree &&
	mlops dataset add tree -m "first" >out &&
	grep -q "^tree@v1 [0-9a-f]\{8\}  8 files" out &&
	grep -q "^/tree$" .gitignore &&
	grep -q "\"tree\": {" mlops.lock
'

test_expect_success 're-adding unchanged data makes no version' '
	mlops dataset add tree >out &&
	grep -q "up to date" out &&
	mlops dataset log tree >log &&
	test $(grep -c "^version v" log) = 1
'

test_expect_success 'links are stored as links, never followed' '
	mlops dataset checkout tree --to copy >/dev/null &&
	test -L copy/tree/outside-link &&
	test "$(readlink copy/tree/outside-link)" = /etc/passwd &&
	test -L copy/tree/a/b/link &&
	test -x copy/tree/run.sh &&
	(cd tree && find . -type f -exec sha256sum {} + | sort) >a &&
	(cd copy/tree && find . -type f -exec sha256sum {} + | sort) >b &&
	test_cmp a b
'

test_expect_success 'checkout gives new files the umask, into new and existing directories' '
	(umask 027 && mlops -q dataset checkout tree --to masked) &&
	test "$(stat -c %a masked/tree/run.sh)" = 750 &&
	test "$(stat -c %a masked/tree/a/b/c/deep.txt)" = 640 &&
	chmod 644 masked/tree/run.sh && echo changed >masked/tree/run.sh &&
	(umask 022 && mlops -q dataset checkout tree --to masked --force) &&
	test "$(stat -c %a masked/tree/run.sh)" = 755 && cmp masked/tree/run.sh tree/run.sh &&
	test -z "$(find masked -name ".*.mlops-*")"
'

test_expect_success 'checkout of an old version after three restores exact bytes' '
	mkdir d && head -c 300000 /dev/urandom >d/big.bin && echo one >d/small &&
	sha256sum d/big.bin d/small >v1.sum &&
	mlops dataset add d --name dd -m v1 >/dev/null &&
	head -c 1000 /dev/urandom >>d/big.bin && echo two >d/small && echo new >d/added &&
	mlops dataset add d --name dd -m v2 >/dev/null &&
	rm d/added && echo three >d/small &&
	mlops dataset add d --name dd -m v3 >/dev/null &&
	mlops dataset checkout dd@v1 >/dev/null &&
	sha256sum -c v1.sum &&
	! test -e d/added &&
	mlops dataset list >list && grep -q "^dd  *v3" list
'

test_expect_success 'checkout updates mlops.lock and status is clean' '
	grep -q "\"version\":1" mlops.lock &&
	mlops status --exit-code
'

test_expect_success 'status reports modified and missing paths' '
	echo changed >>d/small &&
	test_expect_code 1 mlops status --exit-code >out &&
	grep -q "modified: d" out &&
	mv tree tree.away &&
	test_expect_code 1 mlops status --exit-code >out &&
	grep -q "missing: tree" out &&
	mv tree.away tree
'

test_expect_success 'checkout refuses to overwrite unrecorded changes, naming the command' '
	test_expect_code 9 mlops dataset checkout dd@v2 2>err &&
	grep -qx "mlops: dataset checkout: .d. has changes that are not recorded in any version; add them first, or use --force to discard them" err &&
	test_expect_code 3 mlops dataset checkout nosuch 2>err &&
	grep -qx "mlops: dataset checkout: dataset .nosuch. not found" err &&
	grep -q changed d/small &&
	mlops dataset checkout --force dd@v2 >/dev/null &&
	test "$(cat d/small)" = two
'

test_expect_success 'status sees changes deep in a tree once directory trees are cached' '
	mkdir -p deep/a/b/c deep/x && echo 1 >deep/a/b/c/f && echo 2 >deep/x/g && echo 3 >deep/top &&
	sleep 0.1 && mlops -q dataset add deep && sleep 0.1 &&
	mlops status --exit-code >/dev/null && sleep 0.1 && mlops status --exit-code >/dev/null &&
	echo 9 >deep/a/b/c/f &&
	test_expect_code 1 mlops status --exit-code >/dev/null &&
	mlops -q dataset checkout --force deep && sleep 0.1 && mlops status --exit-code >/dev/null &&
	echo new >deep/a/b/new && test_expect_code 1 mlops status --exit-code >/dev/null &&
	rm deep/a/b/new && sleep 0.1 && mlops status --exit-code >/dev/null &&
	rm deep/x/g && test_expect_code 1 mlops status --exit-code >/dev/null &&
	mlops -q dataset checkout --force deep && sleep 0.1 && mlops status --exit-code >/dev/null &&
	mkdir deep/a/empty && test_expect_code 1 mlops status --exit-code >/dev/null &&
	rmdir deep/a/empty && sleep 0.1 && mlops status --exit-code >/dev/null &&
	mv deep/a/b/c/f deep/a/b/c/f2 && test_expect_code 1 mlops status --exit-code >/dev/null &&
	mv deep/a/b/c/f2 deep/a/b/c/f && sleep 0.1 && mlops status --exit-code >/dev/null
'

test_expect_success 'revisions: NAME, NAME@vN, NAME@prefix' '
	mlops --json dataset show dd@v2 >j && id=$(sed -n "s/.*\"id\":[[:space:]]*\"\([0-9a-f]*\)\".*/\1/p" j | head -1) &&
	p=$(echo $id | cut -c1-8) &&
	mlops dataset show dd@$p >out && grep -q "^dataset dd@v2" out &&
	mlops dataset show dd >out && grep -q "^dataset dd@v3" out
'

test_expect_success 'unknown revisions are "not found" (exit 3)' '
	test_expect_code 3 mlops dataset show nosuch 2>err && grep -q "not found" err &&
	test_expect_code 3 mlops dataset show dd@v9 2>err && grep -q "no version v9" err &&
	test_expect_code 3 mlops dataset show dd@ffffffff 2>err
'

test_expect_success 'malformed revisions are usage errors' '
	test_expect_code 2 mlops dataset show "bad name" 2>err &&
	test_expect_code 2 mlops dataset show "dd@zz" 2>err &&
	grep -q "not a revision" err
'

test_expect_success 'an ambiguous prefix lists the candidates' '
	mkdir amb && echo 1 >amb/f && mlops -q dataset add amb &&
	id=$(cat .mlops/refs/datasets/amb/v1) &&
	last=$(echo $id | cut -c64) &&
	if test "$last" = 0; then other=1; else other=0; fi &&
	echo "$(echo $id | cut -c1-63)$other" >.mlops/refs/datasets/amb/v2 &&
	test_expect_code 3 mlops dataset show amb@$(echo $id | cut -c1-10) 2>err &&
	grep -q "ambiguous" err && grep -q "amb@v1" err && grep -q "amb@v2" err &&
	rm .mlops/refs/datasets/amb/v2
'

test_expect_success 'diff of CSVs with appended and deleted rows and a new column' '
	mkdir csv && printf "id,x\n1,a\n2,b\n3,c\n" >csv/t.csv &&
	mlops -q dataset add csv >/dev/null &&
	printf "id,x\n1,a\n3,c\n4,d\n5,e\n" >csv/t.csv && echo new >csv/other.txt &&
	mlops -q dataset add csv >/dev/null &&
	mlops dataset diff csv@v1 csv@v2 >out &&
	grep -q "modified: csv/t.csv.*rows +2 -1" out &&
	grep -q "added: csv/other.txt" out &&
	printf "id,x,y\n1,a,0\n" >csv/t.csv &&
	mlops --json dataset diff csv@v2 >j &&
	grep -q "\"columns_added\":[[:space:]]*\[\"y\"\]" j &&
	grep -q "\"columns_removed\":[[:space:]]*\[\]" j
'

test_expect_success 'row counts of a large CSV diff match comm(1)' '
	mkdir big && { echo "k,v"; seq 1 5000 | awk "{ print \$1 \",\" (\$1 * 7919) % 1000 }"; } >big/t.csv &&
	mlops -q dataset add big >/dev/null &&
	{ echo "k,v"; seq 1 5000 | awk "NR % 7 != 0 { print \$1 \",\" (\$1 * 7919) % 1000 }"; seq 6000 6123 | sed "s/$/,x/"; } >big/t2.csv &&
	mv big/t2.csv big/t.csv &&
	mlops --json dataset diff big@v1 >j &&
	grep -q "\"rows_removed\":[[:space:]]*714" j &&
	grep -q "\"rows_added\":[[:space:]]*124" j
'

test_expect_success 'quoted newlines are one row in a CSV diff' '
	mkdir q && printf "a,b\n1,\"x\ny\"\n2,z\n" >q/t.csv &&
	mlops -q dataset add q >/dev/null &&
	printf "a,b\n1,\"x\ny\"\n2,z\n3,w\n" >q/t.csv &&
	mlops dataset diff q@v1 >out &&
	grep -q "rows +1 -0" out
'

test_expect_success 'status names recorded versions missing from the local store' '
	git init -q ../clone-status && cp mlops.lock ../clone-status/ && cd ../clone-status && mlops -q init &&
	mlops status >out 2>&1 && grep -q "not in the local store (run .mlops pull.)" out &&
	mlops --json status >j 2>&1 && grep -q "\"stored\":[[:space:]]*false" j
'

test_expect_success 'data missing whose version is not stored either is only to pull, not a change to record' '
	git init -q wtsrc && cd wtsrc && mlops -q init && echo 1 >w.csv && mkdir wd && echo 2 >wd/f &&
	mlops -q dataset add w.csv && mlops -q dataset add wd && git add -A && git commit -q -m w &&
	git worktree add -q ../wtnew && cd ../wtnew && mlops -q init &&
	test_expect_code 1 mlops status --exit-code >out &&
	! grep -q "changes not recorded\|missing:\|dataset add" out &&
	grep -q "^recorded versions not in the local store (run .mlops pull.):$" out &&
	grep -q "^  w.csv (w@v1)$" out && grep -q "^  wd (wd@v1)$" out &&
	mlops --json status >j && grep -q "\"state\":[[:space:]]*\"missing\"" j &&
	cd ../wtsrc && rm w.csv && mlops status >out &&
	grep -q "^changes not recorded" out && grep -q "^ *missing: w.csv (w@v1)$" out &&
	! grep -q "not in the local store" out
'

test_expect_success 'status names versions not yet on the default remote' '
	mlops status >out && ! grep -q "not in the local store" out &&
	mlops -q remote add st-origin "$PWD/../st-remote" --default &&
	mlops status >out && grep -q "not yet on remote .st-origin." out &&
	mlops -q push && mlops status >out && ! grep -q "not yet on remote" out &&
	echo more >later.txt && mlops -q dataset add later.txt &&
	mlops status >out && grep -q "not yet on remote" out && grep -q "later.txt (later@v1)" out &&
	mlops --json status >j && grep -q "\"pushed\":[[:space:]]*false" j
'

test_expect_success 'rm unregisters a version' '
	mlops dataset rm dd@v3 >out && grep -q "removed dd@v3" out &&
	test_expect_code 3 mlops dataset show dd@v3 &&
	mlops dataset show dd >out && grep -q "dd@v2" out
'

test_expect_success 'rm of a version that is not there is "not found", twice over' '
	test_expect_code 3 mlops dataset rm dd@v3 2>err && grep -q "^mlops: .*v3" err &&
	test_expect_code 3 mlops dataset rm dd@v9 2>err && grep -q "^mlops: " err &&
	test_expect_code 3 mlops dataset rm nosuch 2>err && grep -q "nosuch.*not found" err
'

test_expect_success 'a single file, default name from its base name' '
	printf "x\n" >single.csv && mlops dataset add single.csv >out &&
	grep -q "^single@v1" out
'

test_expect_success 'paths outside the work tree or in .git are refused' '
	test_expect_code 2 mlops dataset add /etc/hostname 2>err && grep -q "outside the work tree" err &&
	test_expect_code 2 mlops dataset add .git 2>err &&
	test_expect_code 3 mlops dataset add no/such/file 2>err &&
	test_expect_code 2 mlops dataset add . 2>err && grep -q "whole work tree" err
'

test_expect_success 'names with pattern characters are ignored by git exactly; line breaks refused' '
	for f in "g[1].csv" "g?x" "g*r" "g\\s" "gtrail " "#g" "!g"; do
		echo 1 >"$f" && mlops -q dataset add "$f" --name "gi$(printf %s "$f" | od -An -tx1 | tr -d " \n")" || return 1
	done &&
	echo 1 >"g1.csv" && echo 1 >"gax" && echo 1 >"gzzr" && echo 1 >"gtrail" &&
	git status --porcelain --untracked-files=all >st &&
	! grep "g\[1\]\|g?x\|g\*r\|g\\\\s\|gtrail \|#g\|!g" st &&
	grep -q "g1.csv" st && grep -q "gax" st && grep -q "gzzr" st && grep -q "gtrail\$" st &&
	nl=$(printf "gnl\n*") && echo 1 >"$nl" &&
	test_expect_code 2 mlops dataset add "$nl" --name gnl 2>err && grep -q "line break" err &&
	! grep -q "^\*" .gitignore && rm -f "$nl" g1.csv gax gzzr gtrail
'

test_expect_success 'a name that is not UTF-8 is refused (exit 2), a path or a file in a folder; UTF-8 and tabs are not' '
	git init -q u8 && cd u8 && mlops -q init &&
	latin=$(printf "r\351sum\351.csv") && echo 1 >"$latin" &&
	test_expect_code 2 mlops dataset add "$latin" --name resume 2>err &&
	grep -qxF "mlops: \"r\\351sum\\351.csv\" has a name that is not UTF-8: rename it (mlops.lock and --json output hold paths as UTF-8 text)" err &&
	! test -e .mlops/refs/datasets/resume && ! grep -q resume mlops.lock &&
	mkdir -p d/sub && echo 1 >d/ok.csv && echo 2 >"d/sub/$(printf "caf\351.csv")" &&
	test_expect_code 2 mlops dataset add d 2>err &&
	grep -qF "mlops: \"d/sub/caf\\351.csv\" has a name that is not UTF-8" err &&
	! test -e .mlops/refs/datasets/d && ! grep -q "\"d\"" mlops.lock &&
	mkdir -p "$(printf "sub\351")" && echo 3 >"$(printf "sub\351")/f.csv" &&
	(cd "$(printf "sub\351")" && test_expect_code 2 mlops dataset add f.csv 2>../err) &&
	grep -qF "mlops: \"sub\\351/f.csv\" has a name" err &&
	rm "d/sub/$(printf "caf\351.csv")" && echo 2 >"d/sub/$(printf "caf\303\251.csv")" &&
	echo 4 >"$(printf "d/tab\there")" && echo 5 >"$(printf "\303\274n.csv")" && mlops -q dataset add d && mlops -q dataset add "$(printf "\303\274n.csv")" --name un &&
	iconv -f UTF-8 -t UTF-8 mlops.lock >/dev/null &&
	mlops --json dataset show d --files >j && iconv -f UTF-8 -t UTF-8 j >/dev/null &&
	grep -q "\"path\":[[:space:]]*\"sub/caf$(printf "\303\251").csv\"" j &&
	grep -q "\"path\":[[:space:]]*\"tab\\\\there\"" j
'

test_expect_success 'diff --json, show --json and mlops.lock are UTF-8 text: a Latin-1 column name or message has U+FFFD' '
	git init -q l1 && cd l1 && mlops -q init && mkdir t && printf "a,b\n1,2\n" >t/x.csv &&
	mlops -q dataset add t -m "$(printf "caf\351")" && printf "a,b,caf\351\n1,2,3\n" >t/x.csv &&
	mlops --json dataset diff t >j && iconv -f UTF-8 -t UTF-8 j >/dev/null &&
	grep -q "$(printf "\"caf\357\277\275\"")" j &&
	mlops -q dataset add t && mlops --json dataset log t >j && iconv -f UTF-8 -t UTF-8 j >/dev/null &&
	grep -q "$(printf "\"message\":[[:space:]]*\"caf\357\277\275\"")" j &&
	mlops --json dataset diff t@v1 t@v2 >j && iconv -f UTF-8 -t UTF-8 j >/dev/null &&
	iconv -f UTF-8 -t UTF-8 mlops.lock >/dev/null
'

test_expect_success 'a default name that is not valid is refused, named with its path, never changed into another' '
	git init -q dn && cd dn && mlops -q init &&
	echo 1 >"$(printf "\303\274n\303\257.csv")" && echo 2 >"my data.csv" &&
	test_expect_code 2 mlops dataset add "$(printf "\303\274n\303\257.csv")" 2>err &&
	q=$(printf "\047") && u=$(printf "\303\274n\303\257") &&
	grep -qxF "mlops: $q$u$q (from $q$u.csv$q) is not a valid dataset name (ASCII letters, digits, $q.$q, ${q}_$q, $q-$q; starting with a letter or digit; no $q..$q; at most 128): give one with --name" err &&
	mkdir sub && (cd sub && test_expect_code 2 mlops dataset add "../my data.csv" 2>../err) &&
	grep -qF "$(printf "\047my data\047 (from \047../my data.csv\047) is not a valid dataset name")" err &&
	! ls .mlops/refs/datasets 2>/dev/null | grep -q . &&
	test_expect_code 2 mlops dataset add "my data.csv" --name "my data" 2>err &&
	grep -qF "$(printf "\047my data\047 is not a valid dataset name (ASCII")" err && ! grep -q "with --name" err &&
	mlops -q dataset add "my data.csv" --name my-data && mlops dataset list >out &&
	grep -q "^my-data " out && ! grep -q my_data out
'

test_expect_success 'every subcommand answers -h outside a repository' '
	mkdir -p /tmp/mlops-no-repo-$$ && cd /tmp/mlops-no-repo-$$ &&
	for s in add list log show diff checkout rm status; do
		mlops dataset $s -h >out || return 1
		grep -q "usage: mlops dataset $s" out || return 1
	done; rc=$?; cd / && rm -rf /tmp/mlops-no-repo-$$; return $rc
'

test_expect_success 'core.compressionLevel applies without core.compression' '
	for l in 1 19; do
		git init -q lvl$l && (cd lvl$l && mlops -q init &&
		git config -f .mlops/config --unset core.compression &&
		git config -f .mlops/config core.compressionLevel $l &&
		seq 1 300000 >f.txt && mlops --json dataset add f.txt >../add$l.json) || return 1
	done &&
	s1=$(sed -n "s/.*\"stored_now\":[[:space:]]*\([0-9]*\).*/\1/p" add1.json) &&
	s19=$(sed -n "s/.*\"stored_now\":[[:space:]]*\([0-9]*\).*/\1/p" add19.json) &&
	test -n "$s1" && test -n "$s19" && test "$s19" -lt "$s1"
'

test_expect_success 'a checkout stopped by a signal leaves no partial file' '
	git init -q sig && cd sig && mlops -q init && mkdir big && size=200000000 &&
	if [ "${MLOPS_VALGRIND:-}" = 1 ]; then size=20000000; fi &&
	head -c $size /dev/urandom >big/f && mlops -q dataset add big &&
	stopped=0 && i=0 && while [ $i -lt 5 ]; do
		i=$((i + 1)) && rm -rf co &&
		# A process of its own, so that the signal reaches mlops.
		if [ "${MLOPS_VALGRIND:-}" = 1 ]; then
			(exec valgrind -q --error-exitcode=126 "$MLOPS_BIN" -q dataset checkout big --to co) &
		else
			(exec "$MLOPS_BIN" -q dataset checkout big --to co) &
		fi
		# Spun, not slept: the 200 MB take some 70 ms to write.  Signalled
		# as the file appears, mostly while it is being created.
		pid=$! && j=0 &&
		while ! test -e co/big/f && [ $j -lt 3000000 ]; do j=$((j + 1)); done
		kill -TERM $pid; wait $pid; rc=$?
		case $rc in
		0) cmp big/f co/big/f || return 1 ;;
		143) test -z "$(ls -A co/big)" || return 1; stopped=$((stopped + 1)) ;;
		*) echo "checkout ended with status $rc" >&2; return 1 ;;
		esac
	done &&
	say "$stopped of 5 checkouts stopped while writing" && test $stopped -ge 1
'

test_expect_success 'checkout --to refuses to overwrite or remove what differs, unless --force' '
	mkdir to && echo a >to/a && echo b >to/b && mlops -q dataset add to &&
	mkdir -p dest/to && echo mine >dest/to/mine.txt &&
	test_expect_code 9 mlops dataset checkout to --to dest 2>err &&
	grep -q "dest/to/mine.txt. is not in to@v1" err && grep -q -- "--force" err &&
	test -f dest/to/mine.txt && ! test -e dest/to/a &&
	rm dest/to/mine.txt && echo other >dest/to/b &&
	test_expect_code 9 mlops dataset checkout to --to dest 2>err &&
	grep -q "dest/to/b. differs from to@v1" err && test "$(cat dest/to/b)" = other &&
	echo b >dest/to/b && mlops -q dataset checkout to --to dest && test "$(cat dest/to/a)" = a &&
	mlops dataset checkout to --to dest >out && grep -q "0 files written.*2 unchanged" out &&
	chmod +x dest/to/a && test_expect_code 9 mlops dataset checkout to --to dest 2>err &&
	echo mine >dest/to/mine.txt && mlops dataset checkout to --to dest --force >out &&
	grep -q "1 removed" out && ! test -e dest/to/mine.txt && ! test -x dest/to/a
'

test_expect_success 'checkout --to the work tree is a plain checkout; .mlops, .git and "" are refused' '
	echo precious >to/a &&
	test_expect_code 9 mlops dataset checkout to --to . 2>err && grep -q "not recorded" err &&
	test "$(cat to/a)" = precious &&
	echo a2 >to/a && mlops -q dataset add to && mlops -q dataset checkout to@v1 --to "$PWD/" &&
	test "$(cat to/a)" = a && grep -q "\"to\":.*\"version\":1" mlops.lock &&
	test_expect_code 2 mlops dataset checkout to --to .mlops/x 2>err && grep -q "belongs to mlops" err &&
	! test -e .mlops/x &&
	test_expect_code 2 mlops dataset checkout to --to .git/../.git/y/z 2>err && grep -q "belongs to git" err &&
	! test -e .git/y &&
	test_expect_code 2 mlops dataset checkout to --to "" 2>err && grep -q "needs a directory" err
'

test_expect_success 'add refuses a path inside or containing one of another dataset; the same path moves' '
	mkdir ov && printf "a\n1\n" >ov/t.csv && mlops -q dataset add ov/t.csv --name ovt &&
	cp mlops.lock lock.before &&
	test_expect_code 9 mlops dataset add ov --name multi 2>err &&
	grep -q "^mlops: .ov. overlaps .ov/t.csv., tracked by dataset .ovt." err &&
	test_cmp lock.before mlops.lock && test_expect_code 3 mlops dataset show multi &&
	mkdir ovg && echo 1 >ovg/x && mlops -q dataset add ovg --name ovml &&
	test_expect_code 9 mlops dataset add ovg/x --name ovf 2>err && grep -q "overlaps .ovg." err &&
	mlops -q dataset add ovg --name ovf && grep -q "\"ovg\":.*\"dataset\":\"ovf\"" mlops.lock &&
	mlops -q dataset show ovml@v1 &&
	mlops -q dataset add ov --name ovt && grep -q "\"ov\":" mlops.lock && ! grep -q "ov/t.csv" mlops.lock &&
	mlops status >st && ! grep "modified: ov\|missing: ov" st
'

test_expect_success 'the number of a removed version is never used again, by add or import' '
	echo 1 >num.txt && mlops -q dataset add num.txt && echo 2 >num.txt && mlops -q dataset add num.txt &&
	mlops -q dataset rm num@v2 && echo 3 >num.txt && mlops dataset add num.txt >out &&
	grep -q "^num@v3 " out && test_expect_code 3 mlops dataset show num@v2 &&
	mlops -q dataset rm num@v3 && echo 4 >num.txt && mlops dataset add num.txt >out && grep -q "^num@v4 " out &&
	git init -q numsrc && (cd numsrc && mlops -q init && echo 1 >num.txt && mlops -q dataset add num.txt &&
		echo other >num.txt && mlops -q dataset add num.txt && mlops -q export num@v2 ../num2.bundle) &&
	mlops import num2.bundle >out && grep -q "num/v2 -> datasets/num/v5" out &&
	test_expect_code 3 mlops dataset show num@v2
'

test_expect_success 'a change of the executable bit alone is a change of a single-file dataset' '
	echo s >xbit.sh && mlops -q dataset add xbit.sh && chmod +x xbit.sh &&
	mlops status >out && grep -q "modified: xbit.sh" out &&
	mlops dataset diff xbit >out && grep -q "modified: xbit.sh" out &&
	mlops dataset add xbit.sh >out && grep -q "^xbit@v2 " out &&
	grep -q "\"xbit.sh\":.*\"mode\":\"100755\"" mlops.lock &&
	mlops status >st && ! grep -q "modified: xbit" st &&
	mlops -q dataset checkout xbit@v1 && ! test -x xbit.sh && mlops status >st && ! grep -q "modified: xbit" st &&
	echo t >xbit.sh && chmod -x xbit.sh && mlops -q dataset add xbit.sh && chmod +x xbit.sh &&
	test_expect_code 9 mlops dataset checkout xbit@v1 2>err && grep -q "not recorded" err
'

test_expect_success 'checkout leaves unchanged links alone and rewrites changed ones' '
	mkdir lnk && echo 1 >lnk/f && ln -s f lnk/l && ln -s lnk/f toplink &&
	mlops -q dataset add lnk && mlops -q dataset add toplink && sleep 1 &&
	mlops dataset checkout lnk >out && grep -q "0 files written.*2 unchanged" out &&
	mlops dataset checkout toplink >out && grep -q "0 files written.*1 unchanged" out &&
	ln -sf nowhere lnk/l && mlops dataset checkout --force lnk >out &&
	grep -q "1 file written.*1 unchanged" out && test "$(readlink lnk/l)" = f
'

test_expect_success 'CSV diff reads tables as stats does: BOM, delimiter, malformed files' '
	mkdir dcsv && printf "\357\273\277a;b\n1;2\n3;4\n" >dcsv/t.csv && mlops -q dataset add dcsv &&
	printf "a;b;c\n1;2;x\n" >dcsv/t.csv && mlops -q dataset add dcsv &&
	mlops --json dataset diff dcsv@v1 dcsv@v2 >j &&
	grep -q "\"columns_added\":[[:space:]]*\[\"c\"\]" j &&
	grep -q "\"columns_removed\":[[:space:]]*\[\]" j &&
	grep -q "\"rows_removed\":[[:space:]]*2" j && grep -q "\"rows_added\":[[:space:]]*1" j &&
	printf "a,\"b,c\"\n1,2\n" >dcsv/t.csv && mlops -q dataset add dcsv &&
	mlops --json dataset diff dcsv@v2 dcsv@v3 >j &&
	grep -q "\"columns_added\":[[:space:]]*\[\"b,c\"\]" j &&
	printf "a,b\n1,\"2\n3,4\n" >dcsv/t.csv &&
	test_expect_code 4 mlops dataset diff dcsv 2>err && grep -q "t.csv. line 2: " err &&
	mlops -q dataset add dcsv && test_expect_code 4 mlops dataset diff dcsv@v3 dcsv@v4 2>err &&
	grep -q "^mlops: .dcsv@v4:dcsv/t.csv. line 2: " err
'

test_expect_success 'diff --json: every field present, null where rows were not compared' '
	echo more >dcsv/other.txt && printf "a,b\n1,2\n" >dcsv/t.csv &&
	mlops --json dataset diff dcsv@v3 >j &&
	test $(grep -c "\"rows_added\":" j) = 2 && test $(grep -c "\"columns_removed\":" j) = 2 &&
	grep -q "\"rows_added\":[[:space:]]*null" j && grep -q "\"columns_added\":[[:space:]]*null" j
'

test_expect_success 'log takes a NAME: a revision is a usage error' '
	test_expect_code 2 mlops dataset log dd@v1 2>err && grep -q "log takes a NAME" err &&
	test_expect_code 3 mlops dataset log nosuch 2>err && grep -q "not found" err
'

test_expect_success 'show --files quotes a file name holding a newline, as git does' '
	mkdir nlname && echo 1 >"nlname/a
b" && echo 2 >"nlname/q\"uote" && mlops -q dataset add nlname &&
	mlops dataset show --files nlname >out &&
	grep -q "^ *2  \"nlname/a\\\\nb\"$" out && grep -q "^ *2  \"nlname/q\\\\\"uote\"$" out &&
	! grep -q "^b$" out
'

test_expect_success 'diff and checkout --to quote a path or column name holding a control character' '
	printf "a,b\n1,2\n" >nlname/t.csv && mlops -q dataset add nlname &&
	echo 3 >"nlname/a
b" && printf "a,\"x\ty\",b\n1,3,2\n" >nlname/t.csv &&
	mlops dataset diff nlname >out &&
	grep -q "^modified: \"nlname/a\\\\nb\" (2 B -> 2 B)$" out &&
	grep -q "^modified: nlname/t.csv (8 B -> 16 B), rows +1 -1, columns added: \"x\\\\ty\"$" out &&
	test $(wc -l <out) = 2 &&
	mlops dataset checkout nlname --to "$(printf "o\tut")" >out &&
	grep -q "^nlname@v2 checked out to \"o\\\\tut\": 3 files written" out
'

test_expect_success 'checkout replaces content another version records; refuses what none does' '
	mkdir rv && echo one >rv/f && mlops -q dataset add rv && echo two >rv/f && mlops -q dataset add rv &&
	mlops -q dataset checkout rv@v1 && echo two >rv/f &&
	mlops -q dataset checkout rv@v1 && test "$(cat rv/f)" = one &&
	echo three >rv/f && test_expect_code 9 mlops dataset checkout rv@v2 2>err &&
	grep -q "not recorded in any version" err && test "$(cat rv/f)" = three
'

test_expect_success 'status names the version that holds out-of-date data: its own dataset first, then the newest' '
	mkdir held && cd held && git init -q && mlops -q init &&
	for c in 3 4 5 1; do echo $c >x && mlops -q dataset add x --name b || return 1; done &&
	echo 1 >x && echo 1 >y && mlops -q dataset add x y --name a &&
	echo 2 >y && mlops -q dataset add x y --name a && echo 2 >x && mlops -q dataset add x y --name a &&
	echo 9 >z && mlops -q dataset add z --name c &&
	echo 1 >x && echo 1 >y && echo 3 >z && mlops status >out &&
	grep -q "out of date: x holds a@v2, mlops.lock says a@v3" out &&
	grep -q "out of date: y holds a@v1, mlops.lock says a@v3" out &&
	grep -q "out of date: z holds another recorded version, mlops.lock says c@v1" out &&
	mlops --json status >j && tr -d " \t\n" <j >jj &&
	grep -q "\"path\":\"x\",[^}]*\"holds\":{\"dataset\":\"a\",\"version\":2}" jj &&
	grep -q "\"path\":\"y\",[^}]*\"holds\":{\"dataset\":\"a\",\"version\":1}" jj &&
	grep -q "\"path\":\"z\",[^}]*\"stored\":true}" jj &&
	echo 5 >x && mlops status >out && grep -q "out of date: x holds b@v3," out &&
	mlops -q dataset rm b@v3 && mlops status >out && grep -q "modified: x (a@v3)" out &&
	echo 1 >x && mlops -q dataset rm a@v2 && mlops status >out &&
	grep -q "out of date: x holds a@v1," out &&
	mlops -q dataset rm a@v1 && mlops status >out && grep -q "out of date: x holds b@v4," out &&
	grep -q "out of date: y holds another recorded version," out
'

test_expect_success 'on a terminal the progress line is erased before the summary' '
	test_have_cmd script || return 0
	mkdir tty && cd tty && git init -q && mlops -q init &&
	head -c 3000000 /dev/urandom >big.bin && mlops -q dataset add big.bin --name cancer &&
	echo x >>big.bin && mlops -q dataset add big.bin --name cancer &&
	script -qc "\"$MLOPS_BIN\" dataset checkout cancer@v1 --force" /dev/null >out &&
	esc=$(printf "\033") && cr=$(printf "\r") &&
	grep -q "$cr$esc\[Kcancer@v1 checked out" out && ! grep -q ")$esc\[K[[:alnum:]]" out &&
	echo y >>big.bin && script -qc "\"$MLOPS_BIN\" dataset add big.bin --name cancer" /dev/null >out &&
	grep -q "cancer@v3" out && ! grep -q ")$esc\[K[[:alnum:]]" out
'

test_expect_success 'mlops checkout restores the executable bit of a file tracked on its own' '
	printf "#!/bin/sh\n" >xrun.sh && chmod +x xrun.sh && mlops -q dataset add xrun.sh &&
	chmod -x xrun.sh && mlops status >st && grep -q "modified: xrun.sh (xrun@v1)" st &&
	test_expect_code 9 mlops checkout >out 2>err && grep -q "^xrun.sh: kept" out &&
	grep -q "unrecorded changes kept" err && ! test -x xrun.sh &&
	mlops checkout --force >out && grep -q "^xrun.sh: restored" out && test -x xrun.sh &&
	mlops status >st && ! grep -q "xrun.sh" st
'

test_expect_success 'every version object has a parent: null for a first version' '
	echo 1 >par.txt && mlops -q dataset add par.txt &&
	mlops --json dataset show par@v1 | tr -d " \t\n" >j && grep -q "\"parent\":null" j &&
	id=$(sed "s/.*\"version\":1,\"id\":\"\([0-9a-f]*\)\".*/\1/" j) &&
	mlops --json dataset list | tr -d " \t\n" >j &&
	grep -q "\"name\":\"par\",[^]]*\"parent\":null" j &&
	mlops --json dataset log par | tr -d " \t\n" >j && grep -q "\"parent\":null" j &&
	echo 2 >par.txt && mlops -q dataset add par.txt &&
	mlops --json dataset show par@v2 | tr -d " \t\n" >j && grep -q "\"parent\":\"$id\"" j &&
	mlops --json dataset log par | tr -d " \t\n" >j && grep -q "\"parent\":\"$id\".*\"parent\":null" j
'

test_expect_success 'dataset stats of a path that is not there is not found in a repository too' '
	mkdir -p statdir/sub &&
	for a in statdir/nope.csv ./nope nope.tsv statdir/nope/
	do
		test_expect_code 3 mlops dataset stats $a 2>err &&
		grep -q "unable to open '"'"'$a'"'"': No such file or directory" err || return 1
	done &&
	test_expect_code 2 mlops dataset stats statdir/sub/ 2>err && grep -q "is not a file" err &&
	test_expect_code 2 mlops dataset stats ./statdir 2>err && grep -q "is not a file" err &&
	test_expect_code 3 mlops dataset stats nosuchset 2>err && grep -q "dataset '"'"'nosuchset'"'"' not found" err &&
	printf "a,b\n1,2\n" >statdir/t.csv && mlops -q dataset add statdir/t.csv --name t.csv &&
	mlops dataset stats t.csv >out && grep -q "statdir/t.csv: 1 rows" out
'

test_expect_success 'a dataset narrowed or widened leaves in .gitignore only the paths tracked now' '
	mkdir -p nar/sub && echo 1 >nar/a && echo 2 >nar/sub/b &&
	mlops -q dataset add nar/sub --name inner && grep -qx "/nar/sub" .gitignore &&
	mlops -q dataset add nar --name inner && grep -qx "/nar" .gitignore &&
	! grep -qx "/nar/sub" .gitignore &&
	mlops -q dataset add nar/sub --name inner && grep -qx "/nar/sub" .gitignore &&
	! grep -qx "/nar" .gitignore && grep -qx "/xrun.sh" .gitignore &&
	git status --porcelain --untracked-files=all >st && grep -q "nar/a" st && ! grep -q "nar/sub" st &&
	mlops -q dataset checkout inner@v2 && grep -qx "/nar" .gitignore && ! grep -qx "/nar/sub" .gitignore
'

# ro_store CMD...: CMD with the store .mlops read-only: for root, whom file
# modes do not stop, in a mount namespace of its own where .mlops is a
# read-only bind mount; for another user, with .mlops not writable.
ro_store() {
	if [ "$(id -u)" = 0 ]; then
		unshare -m sh -c 'mount --bind .mlops .mlops && mount -o remount,ro,bind .mlops &&
			exec "$@"' sh "$@"
	else
		chmod -R a-w .mlops && { "$@"; _rc=$?; chmod -R u+w .mlops; return $_rc; }
	fi
}

test_expect_success 'status on a store it cannot write: the right answer, the store left as it was' '
	git init -q ro && cd ro && mlops -q init && mkdir -p d/sub && echo 1 >d/a && echo 2 >d/sub/b &&
	mlops -q dataset add d && echo 3 >t.csv && mlops -q dataset add t.csv &&
	if ! ro_store sh -c "! touch .mlops/probe" 2>/dev/null; then
		say "no read-only store can be made here"; return 0
	fi
	sleep 0.1 && touch d/a t.csv && cp .mlops/index ../index.before &&
	find .mlops/objects -type f | sort >../objects.before &&
	ro_store "$MLOPS_BIN" status --exit-code >out && grep -q "matches mlops.lock (2 paths)" out &&
	echo 9 >d/sub/b &&
	test_expect_code 1 ro_store "$MLOPS_BIN" status --exit-code >out &&
	grep -q "^   modified: d (d@v1)$" out && ! grep -q t.csv out &&
	ro_store "$MLOPS_BIN" --json status >j && grep -q "\"state\":[[:space:]]*\"modified\"" j &&
	ro_store "$MLOPS_BIN" dataset list >out && grep -q "^d " out && grep -q "^t " out &&
	ro_store "$MLOPS_BIN" dataset show d >/dev/null && ro_store "$MLOPS_BIN" dataset log d >/dev/null &&
	ro_store "$MLOPS_BIN" fsck >/dev/null &&
	cmp .mlops/index ../index.before && find .mlops/objects -type f | sort >../objects.after &&
	test_cmp ../objects.before ../objects.after && ! test -e .mlops/probe &&
	test_expect_code 1 mlops status --exit-code >/dev/null && ! cmp -s .mlops/index ../index.before
'

# stop_checkout SIG COND CMD...: run mlops CMD with a pause in each file it
# writes, once the file is created (and sized) and before its content is
# written (MLOPS_TEST_CHECKOUT_DELAY_MS), wait until the shell condition
# COND holds (a file has appeared: the checkout is in that pause), run
# the shell code in $while_running if any, then send SIG.  Returns 0 when
# COND came true and $while_running succeeded.
stop_checkout() {
	_sig=$1 _cond=$2 && shift 2
	(MLOPS_TEST_CHECKOUT_DELAY_MS=20000 exec "$MLOPS_BIN" "$@" >/dev/null 2>&1) & _pid=$!
	_n=0
	while ! eval "$_cond" && kill -0 $_pid 2>/dev/null && [ $_n -lt 400 ]; do
		sleep 0.05; _n=$((_n + 1))
	done
	eval "$_cond" && eval "${while_running:-:}"; _rc=$?
	kill -$_sig $_pid 2>/dev/null; wait $_pid
	return $_rc
}

test_expect_success 'a checkout killed midway leaves its paths half made, not changes: status says so, add refuses them, the next checkout makes them again' '
	git init -q ck && cd ck && mlops -q init && mkdir d &&
	head -c 3000000 /dev/urandom >d/big && echo small >d/small &&
	mlops -q dataset add d && git add -A && git commit -qm d && cp -r d ../ck-d && rm -rf d &&
	while_running="grep -q \"\\\"d\\\"\" .mlops/pull-new && mlops status >out &&
		grep -q \"^  in progress: d (d@v1)$\" out && ! grep -q \"modified\" out &&
		test_expect_code 5 mlops dataset add d 2>err &&
		grep -q \"being made by a checkout or pull that is running\" err" &&
	stop_checkout KILL "test -e d/big" checkout && ! cmp -s d/big ../ck-d/big &&
	mlops status >out && grep -q "^  interrupted: d (d@v1)$" out &&
	grep -q "half made by a checkout or pull that stopped" out && ! grep -q "modified" out &&
	test_expect_code 1 mlops status --exit-code >/dev/null &&
	mlops --json status >j && grep -q "\"state\":[[:space:]]*\"interrupted\"" j &&
	test_expect_code 9 mlops dataset add d 2>err &&
	grep -q "^mlops: .d. is half made by a checkout or pull that stopped; run .mlops checkout. to make it again" err &&
	! test -e .mlops/refs/datasets/d/v2 &&
	mlops checkout >out && grep -q "^d: restored$" out && diff -r d ../ck-d &&
	! test -e .mlops/pull-new && mlops status --exit-code
'

test_expect_success 'a dataset checkout killed while it replaces a file: the path is half made, temporary file and all, until the next checkout' '
	cd ck && head -c 3000000 /dev/urandom >d/big && mlops -q dataset add d &&
	git add -A && git commit -qm v2 && cp -r d ../ck-d2 &&
	while_running= &&
	stop_checkout KILL "ls -A d | grep -q \"^\\.big\\.mlops-\"" dataset checkout d@v1 &&
	cmp d/big ../ck-d2/big && mlops status >out && grep -q "^  interrupted: d (d@v2)$" out &&
	! grep -q "modified" out && test_expect_code 9 mlops dataset add d 2>/dev/null &&
	mlops -q dataset checkout d@v1 && diff -r d ../ck-d && ! test -e .mlops/pull-new &&
	mlops status --exit-code && git checkout -q mlops.lock &&
	stop_checkout KILL "ls -A d | grep -q \"^\\.big\\.mlops-\"" checkout &&
	mlops status >out && grep -q "^  interrupted: d (d@v2)$" out &&
	mlops -q checkout && diff -r d ../ck-d2 && ! test -e .mlops/pull-new && mlops status --exit-code
'

test_expect_success 'a checkout that fails on a damaged object leaves its paths half made: the next one fails the same way (exit 7), not on changes' '
	cd ck && rm -rf d &&
	id=$(sha256sum ../ck-d/small | cut -c1-64) &&
	f=$(ls .mlops/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)*) &&
	cp $f ../saved && chmod u+w $f && head -c 3 ../saved >$f &&
	test_expect_code 7 mlops checkout >/dev/null 2>err && grep -q "object $id is corrupt" err &&
	test -d d && mlops status >out && grep -q "^  interrupted: d (d@v2)$" out &&
	test_expect_code 7 mlops checkout >/dev/null 2>err && grep -q "object $id is corrupt" err &&
	! grep -q "kept\|unrecorded" err &&
	cp ../saved $f && mlops -q checkout && diff -r d ../ck-d2 && mlops status --exit-code &&
	! test -e .mlops/pull-new
'

test_expect_success 'a checkout killed while it replaces a tracked file: the next checkout removes the temporary file left beside it' '
	cd ck && head -c 3000000 /dev/urandom >m.bin && mlops -q dataset add m.bin && cp m.bin ../m1 &&
	head -c 3000000 /dev/urandom >m.bin && mlops -q dataset add m.bin && cp m.bin ../m2 &&
	stop_checkout KILL "ls -A | grep -q \"^\\.m\\.bin\\.mlops-\"" dataset checkout m@v1 &&
	cmp m.bin ../m2 && mlops status >out && grep -q "^  interrupted: m.bin (m@v2)$" out &&
	mlops -q dataset checkout m@v1 && cmp m.bin ../m1 && ! ls -A | grep -q "mlops-" &&
	! test -e .mlops/pull-new && mlops status --exit-code
'

test_expect_success 'a checkout stopped by a signal removes the folders it made, with what it wrote in them' '
	cd ck && mkdir -p deep/er/ds && echo a >deep/er/ds/a && echo b >deep/er/ds/b &&
	mlops -q dataset add deep/er/ds && rm -rf deep &&
	stop_checkout TERM "test -e deep/er/ds/a || test -e deep/er/ds/b" dataset checkout ds &&
	! test -e deep && mlops status >out && grep -q "^  interrupted: deep/er/ds (ds@v1)$" out &&
	mlops -q checkout && test "$(cat deep/er/ds/b)" = b && mlops status --exit-code &&
	stop_checkout TERM "test -e ../ck-to/new/deep/er/ds/a || test -e ../ck-to/new/deep/er/ds/b" \
		dataset checkout ds --to ../ck-to/new &&
	! test -e ../ck-to && mkdir ../ck-to &&
	stop_checkout HUP "test -e ../ck-to/deep/er/ds/a || test -e ../ck-to/deep/er/ds/b" \
		dataset checkout ds --to ../ck-to &&
	test -d ../ck-to && test -z "$(ls -A ../ck-to)" &&
	mlops -q dataset checkout ds --to ../ck-to && test "$(cat ../ck-to/deep/er/ds/a)" = a
'

test_expect_success 'an object in a damaged pack is damaged, not missing: dataset checkout exits 7' '
	git init -q pk && cd pk && mlops -q init && mkdir d &&
	head -c 819200 /dev/urandom | split -b 2048 - d/f && mlops -q dataset add d &&
	ls .mlops/objects/pack/*.pack >packs && test -s packs &&
	for p in $(cat packs); do chmod u+w $p && echo garbage >>$p || return 1; done &&
	test_expect_code 1 mlops fsck >out 2>&1 && grep -q "^corrupt .*: pack .* is corrupt" out &&
	test_expect_code 7 mlops dataset checkout d --to ../pk-out 2>err &&
	grep -q "^mlops: dataset checkout: object [0-9a-f]* is in pack [0-9a-f]*, which is damaged: pack [0-9a-f]* is corrupt: " err
'

test_done
