#!/bin/sh
# The command itself: version, help, unknown commands, outside a repository.
. "$(dirname "$0")/lib.sh"

test_expect_success '--version prints the version' '
	mlops --version >out &&
	grep -q "^mlops version [0-9]" out
'

test_expect_success '--json --version is JSON' '
	mlops --json --version >out &&
	grep -q "\"version\"" out &&
	mlops version --json >out && grep -q "\"version\"" out &&
	test_expect_code 2 mlops version --bogus 2>err && grep -q "^mlops: version: unrecognized option" err
'

test_expect_success '--help lists the commands' '
	mlops --help >out &&
	grep -q "^   init " out && grep -q "^   dataset " out
'

test_expect_success 'no command is a usage error' '
	test_expect_code 2 mlops 2>err &&
	grep -q "usage:" err
'

test_expect_success 'unknown command suggests the closest' '
	test_expect_code 2 mlops stauts 2>err &&
	grep -q "mlops: .stauts. is not a command" err &&
	grep -q "status" err
'

test_expect_success 'unknown global option is a usage error' '
	test_expect_code 2 mlops --frobnicate status 2>err &&
	grep -q "unknown option" err &&
	grep -q "^usage: mlops \[-C DIR\]" err && ! grep -q "mlops mlops" err
'

test_expect_success 'a command refuses an unknown option in one line naming the command' '
	git init -q opts && cd opts && mlops -q init &&
	test_expect_code 2 mlops status --frobnicate 2>err &&
	head -n 1 err >first && grep -q "^mlops: status: unrecognized option .--frobnicate.$" first &&
	grep -q "^usage: mlops status" err &&
	test_expect_code 2 mlops dataset show -t 2>err &&
	grep -q "^mlops: dataset show: invalid option -- .t.$" err &&
	test_expect_code 2 mlops dataset add --name 2>err &&
	grep -q "^mlops: dataset add: option .--name. requires an argument$" err
'

test_expect_success 'an argument too many or too few is named in one line before the usage' '
	git init -q nargs && cd nargs && mlops -q init &&
	test_expect_code 2 mlops dataset list extra 2>err &&
	head -n 1 err >first && grep -q "^mlops: dataset list: unexpected argument .extra.$" first &&
	sed -n 2p err | grep -q "^usage: mlops dataset list$" &&
	test_expect_code 2 mlops remote add a b c 2>err &&
	head -n 1 err >first && grep -q "^mlops: remote add: unexpected argument .c.$" first &&
	grep -q "^usage: mlops remote add NAME URL" err &&
	test_expect_code 2 mlops remote add a 2>err &&
	head -n 1 err >first && grep -q "^mlops: remote add: missing URL$" first &&
	for args in "dataset show:REV" "dataset diff:REV" "dataset stats:REV|FILE" "dataset log:NAME" \
		"register promote m:STAGE" "register deprecate:NAME" "register impact:DATASET@REV" \
		"deploy rollback:TARGET" "deploy x:TARGET" "deploy serve:REV|PATH" "hooks run:NAME" \
		"export x:FILE" "import:FILE" "merge-lock a b:THEIRS" "register lineage:REV" \
		"register:NAME" "remote remove:NAME" "deploy:REV" "feature get x:KEY" \
		"feature materialize:NAME" "feature join:NAME" "feature show:REV" "train compare:RUN" \
		"train show:RUN" "train wait:RUN" "train cancel:RUN" "train log:RUN"; do
		cmd=${args%%:*} what=${args#*:} &&
		test_expect_code 2 mlops $cmd 2>err &&
		head -n 1 err | sed -n "s/^mlops: [a-z -]*: missing //p" >first && test "$(cat first)" = "$what" &&
		grep -q "^usage: mlops " err || { echo "$cmd" >&2; cat err >&2; return 1; }
	done &&
	for args in "dataset list" "dataset show a" "dataset rm a" "dataset diff a b" "dataset log a" \
		"dataset checkout a" "dataset stats a" "checkout a" "init a" "gc" "fsck" "help a" \
		"version" "merge-lock a b c" "register history a" "register list" "register show a" \
		"register lineage a" "register promote a b" "deploy list" "deploy rollback a" \
		"remote list" "remote remove a" "export a b" "import a" "monitor log a" \
		"hooks uninstall" "hooks install" "status" "feature list" "feature show a" \
		"feature materialize a" "train list" "train show a" "train log a"; do
		test_expect_code 2 mlops $args extra 2>err &&
		head -n 1 err >first && grep -q "^mlops: .*: unexpected argument .extra.$" first &&
		grep -q "^usage: mlops " err || { echo "$args" >&2; cat err >&2; return 1; }
	done &&
	for c in dataset hooks monitor; do
		test_expect_code 2 mlops $c 2>err &&
		head -n 1 err >first && grep -q "^mlops: $c: missing subcommand$" first &&
		grep -q "^usage: mlops $c " err || { echo "$c" >&2; cat err >&2; return 1; }
	done
'

test_expect_success 'global long options also work after the command' '
	git init -q late && cd late && mlops -q init && echo a >a && mlops -q dataset add a &&
	mlops dataset list --json >out && grep -q "\"name\":.*\"a\"" out &&
	mlops status --json >out && grep -q "\"paths\"" out &&
	mlops dataset add a --quiet >out && test ! -s out &&
	mlops train list --json >out && grep -q "^\[" out &&
	mlops dataset list --no-color >out && grep -q "^a " out
'

test_expect_success 'global short options -q and -v also work after the command, alone or in a cluster' '
	git init -q shortq && cd shortq && mlops -q init && echo a >a && mlops -q dataset add a &&
	echo b >a && mlops dataset add a -q >out && test ! -s out &&
	echo c >a && mlops dataset add -qm c a >out && test ! -s out &&
	mlops dataset log a >out && grep -q "^    c$" out &&
	echo d >a && mlops dataset add a -m -q >out && grep -q "^a@v4 " out &&
	mlops dataset log a >out && grep -q "^    -q$" out &&
	mlops status -q >out && test ! -s out &&
	mlops status -v >out && grep -q "^store: " out &&
	mlops status -qv >out && test ! -s out &&
	mlops checkout -fq >out && test ! -s out &&
	test_expect_code 2 mlops status -x 2>err && grep -q "^mlops: status: invalid option -- .x.$" err
'

test_expect_success 'a global option is taken only in full: abbreviations and values stay the command'"'"'s' '
	cd late && echo b >a &&
	mlops dataset add a -m --json >out && ! grep -q "^{" out && grep -q "^a@v2 " out &&
	mlops dataset log a >out && grep -q "^    --json$" out &&
	mlops fsck --j 1 >out && grep -q "0 faults" out &&
	git add -A >/dev/null && git commit -qm a && mlops -q register mm a --ver v1.2.3 && mlops register list >out && grep -q "^mm  *v1.2.3" out &&
	mlops -q train -n after -- sh -c "echo --json" && mlops train log after >out && grep -q "^--json$" out
'

test_expect_success 'help for a page that is not installed is "not found" (3) with a hint' '
	test_have_cmd man || return 0
	mkdir nopages && cp "$MLOPS_BIN" nopages/mlops &&
	if MANPATH=/nonexistent man -w mlops-dataset >/dev/null 2>&1; then return 0; fi
	(unset MLOPS_MANDIR; MANPATH=/nonexistent test_expect_code 3 nopages/mlops help dataset 2>err) &&
	grep -q "^mlops: no manual page .mlops-dataset. is installed" err && grep -q "^hint: " err &&
	! grep -q "No manual entry" err && test "$(wc -l <err)" = 2
'

test_expect_success 'commands outside a repository give the hint' '
	mkdir outside && cd outside &&
	for c in status "dataset list"; do
		test_expect_code 8 mlops $c 2>err &&
		grep -q "not in an mlops repository" err &&
		grep -q "mlops init" err || return 1
	done
'

test_expect_success 'a bad option is a usage error (2) outside a repository too' '
	mkdir -p outside && cd outside &&
	for c in status "dataset show" "dataset list" "train list" "remote add" gc; do
		test_expect_code 2 mlops $c --bogus 2>err &&
		grep -q "unrecognized option .--bogus." err &&
		! grep -q "not in an mlops repository" err || return 1
	done &&
	test_expect_code 8 mlops dataset show x 2>err && grep -q "not in an mlops repository" err
'

test_expect_success 'no colours on a terminal whose TERM is dumb' '
	test_have_cmd script || return 0
	git init -q colours && cd colours && mlops -q init && echo a >a && mlops -q dataset add a &&
	echo b >a && esc=$(printf "\033") &&
	script -qc "env -u NO_COLOR TERM=xterm \"$MLOPS_BIN\" status" /dev/null >out &&
	grep -q "$esc" out &&
	script -qc "env -u NO_COLOR TERM=dumb \"$MLOPS_BIN\" status" /dev/null >out &&
	grep -q "modified" out && ! grep -q "$esc" out
'

test_expect_success 'on a terminal progress is redrawn some 10 times a second, not once an object, and ends at 100%' '
	test_have_cmd script || return 0
	git init -q redraw && cd redraw && mlops -q init && mkdir d &&
	seq 1 3000 | while read i; do echo $i >d/f$i; done &&
	mlops -q dataset add d && rm -rf d &&
	t0=$(date +%s) && script -qc "\"$MLOPS_BIN\" dataset checkout d@v1" /dev/null >out && t1=$(date +%s) &&
	test -f d/f3000 && tr "\r" "\n" <out | grep "^checking out: " >lines &&
	n=$(wc -l <lines) && echo "$n redraws in $((t1 - t0)) s" &&
	test "$n" -ge 2 && test "$n" -le $(((t1 - t0 + 1) * 10 + 5)) &&
	tail -n 1 lines | grep -q "^checking out: 100% "
'

test_expect_success 'a full stdout is an error, not exit 0' '
	test -w /dev/full || return 0
	test_must_fail mlops --version >/dev/full 2>err &&
	grep -q "write failure on standard output" err
'

# libgit2, libcurl, libarchive and libmicrohttpd (and the 20-odd
# libraries they bring) are loaded on first use, not at every start: the
# dynamic loader says which files it maps (LD_DEBUG=files).
test_expect_success 'status and --version never load libgit2; a git operation does' '
	git init -q lazy && cd lazy && mlops -q init && echo a >a && mlops -q dataset add a &&
	git add -A && git commit -qm a &&
	LD_DEBUG=files "$MLOPS_BIN" status >out 2>ld && grep -q "matches mlops.lock" out &&
	grep -q "file=libzstd" ld && ! grep -q "file=libgit2" ld && ! grep -q "file=libcurl" ld &&
	LD_DEBUG=files "$MLOPS_BIN" --version >out 2>ld && ! grep -q "file=libgit2" ld &&
	echo b >a && LD_DEBUG=files "$MLOPS_BIN" -q dataset add a -m b 2>ld &&
	grep -q "file=libgit2" ld && mlops dataset log a >out && grep -q " b$" out
'

test_expect_success '-C runs in another directory' '
	mkdir -p other && mlops -C other init >out &&
	test -d other/.mlops &&
	test_expect_code 3 mlops -C no-such-dir status 2>err &&
	grep -q "^mlops: cannot change to .no-such-dir.: No such file or directory$" err
'

test_done
