#!/bin/sh
# mlops init and status.
. "$(dirname "$0")/lib.sh"

test_expect_success 'init in a fresh folder creates git and .mlops' '
	mkdir fresh && cd fresh &&
	mlops init >out &&
	grep -q "Initialized empty mlops repository" out &&
	grep -q "^hint: .*git add mlops.lock .mlops$" out &&
	git add mlops.lock .mlops &&
	test -d .git && test -d .mlops/objects && test -d .mlops/refs &&
	test -d .mlops/logs && test -d .mlops/tmp &&
	test -f .mlops/config && test -f mlops.lock &&
	git config -f .mlops/config core.compression >val && grep -q zstd val
'

test_expect_success 'the hint of init names a top-level .gitignore only when there is one, so that it runs' '
	mkdir withignore && cd withignore && git init -q && echo "*.tmp" >.gitignore &&
	mlops init >out && grep -q "^hint: .*git add mlops.lock .gitignore .mlops$" out &&
	git add mlops.lock .gitignore .mlops
'

test_expect_success 'init twice changes nothing' '
	cd fresh &&
	find .mlops mlops.lock -type f | sort | xargs sha256sum >before &&
	mlops init >out &&
	grep -q "Reinitialized existing" out && ! grep -q "hint:" out &&
	find .mlops mlops.lock -type f | sort | xargs sha256sum >after &&
	test_cmp before after
'

test_expect_success 'init in a subfolder of a repository uses its root' '
	git init -q repo && mkdir -p repo/a/b && cd repo/a/b &&
	mlops init >out &&
	test -d ../../.mlops && ! test -e .mlops
'

test_expect_success 'the store stays out of git, the config does not' '
	cd fresh &&
	git add -A && git status --porcelain >st &&
	grep -q ".mlops/config" st &&
	! grep -q ".mlops/objects" st && ! grep -q ".mlops/tmp" st
'

test_expect_success 'GIT_DIR and GIT_WORK_TREE are honoured: no stray .git, the right repository' '
	mkdir sep && git --git-dir=sepgit --work-tree=sep init -q &&
	(cd sep && GIT_DIR=$PWD/../sepgit GIT_WORK_TREE=$PWD mlops -q init) &&
	! test -e sep/.git && test -d sep/.mlops && test -f sep/mlops.lock &&
	echo a >sep/a.txt &&
	GIT_DIR=$PWD/sepgit GIT_WORK_TREE=$PWD/sep git add -A &&
	GIT_DIR=$PWD/sepgit GIT_WORK_TREE=$PWD/sep git commit -q -m one &&
	(cd sep && GIT_DIR=../sepgit mlops -q dataset add a.txt) &&
	GIT_DIR=$PWD/sepgit GIT_WORK_TREE=$PWD/sep mlops status --exit-code >out &&
	grep -q "matches mlops.lock (1 path)" out &&
	head=$(git --git-dir=sepgit rev-parse HEAD) &&
	GIT_DIR=$PWD/sepgit GIT_WORK_TREE=$PWD/sep mlops --json dataset show a >out &&
	grep -q "\"git_head\":[[:space:]]*\"$head\"" out &&
	test_expect_code 3 env GIT_DIR=$PWD/no-such-git "$MLOPS_BIN" status 2>err &&
	grep -q "GIT_DIR is .*no-such-git., which is not a git repository" err &&
	(cd sep && GIT_DIR=$PWD/../sepgit GIT_WORK_TREE=$PWD test_expect_code 2 mlops dataset checkout a \
		--to ../sepgit/objects 2>../err) && grep -q "belongs to git" err && ! test -e sepgit/objects/a.txt
'

test_expect_success 'init DIR creates DIR' '
	mlops init new/dir >out && test -d new/dir/.mlops && test -d new/dir/.git
'

test_expect_success 'status works from a subfolder' '
	cd repo/a && mlops status >out && grep -q "no tracked paths" out
'

test_expect_success 'status -v shows the store and the lock' '
	cd fresh && mlops -v status >out &&
	grep -q "^store: 0 objects" out && grep -q "^lock: free" out
'

test_expect_success 'status --json' '
	cd fresh && mlops --json status >out &&
	grep -q "\"clean\":[[:space:]]*true" out
'

test_expect_success 'a stale lock from a dead process is recovered with a message' '
	cd fresh && echo "999999 $(hostname)" >.mlops/lock &&
	mkdir d && echo x >d/f &&
	mlops dataset add d 2>err &&
	grep -q "warning: removed a stale repository lock left by process 999999" err &&
	! test -e .mlops/lock
'

test_expect_success 'a lock held by a live process is waited for, then reported' '
	cd fresh || return 1
	sleep 30 &
	pid=$!
	echo "$pid $(hostname)" >.mlops/lock && echo y >d/f &&
	git config -f .mlops/config core.lockTimeout 300 &&
	test_expect_code 5 mlops dataset add d 2>err; rc=$?
	kill $pid; rm -f .mlops/lock; test $rc = 0 &&
	grep -q "locked by process $pid" err && grep -q "try again" err
'

test_expect_success 'a bad config value is a clear error' '
	cd fresh && git config -f .mlops/config core.compression lzma &&
	echo changed >d/f &&
	test_expect_code 4 mlops dataset add d 2>err &&
	grep -q "core.compression" err &&
	git config -f .mlops/config core.compression zstd
'

test_expect_success 'a value that is not an integer names the key, the value and the file' '
	cd fresh && git config -f .mlops/config core.lockTimeout abc &&
	echo changed-again >d/f &&
	test_expect_code 4 mlops dataset add d 2>err &&
	grep -q "^mlops: invalid configuration in .\.mlops/config.: core.lockTimeout is .abc.; expected an integer$" err &&
	git config -f .mlops/config --unset core.lockTimeout
'

test_expect_success 'a config write that fails says so in our words' '
	cd fresh && touch .mlops/config.lock &&
	test_expect_code 5 mlops remote add w ../w-store 2>err &&
	grep -q "^mlops: unable to write .\.mlops/config.: .\.mlops/config\.lock. exists" err &&
	! grep -q "failed to lock" err && rm .mlops/config.lock
'

test_expect_success 'a malformed config fails every command that reads it, naming the file and line' '
	cd fresh && cp .mlops/config ../config.good &&
	mlops -q remote add o "$PWD/../o-store" && echo "[core" >>.mlops/config &&
	line=$(wc -l <.mlops/config) &&
	for c in status "dataset add d" "remote list" "train list" gc "register list"; do
		test_expect_code 4 mlops $c >/dev/null 2>err &&
		grep -q "^mlops: unable to read .\.mlops/config.: missing .\]. in section header (line $line)$" err ||
		{ echo "$c" >&2; cat err >&2; return 1; }
	done &&
	cp ../config.good .mlops/config
'

test_expect_success 'init of a regular file says it is not a directory (exit 2)' '
	echo x >afile &&
	test_expect_code 2 mlops init afile 2>err && grep -q "^mlops: .afile. is not a directory" err &&
	test "$(cat afile)" = x
'

test_done
