#!/bin/sh
# mlops init and status.
. "$(dirname "$0")/lib.sh"

test_expect_success 'init in a fresh folder creates git and .mlops' '
	mkdir fresh && cd fresh &&
	mlops init >out &&
	grep -q "Initialized empty mlops repository" out &&
	test -d .git && test -d .mlops/objects && test -d .mlops/refs &&
	test -d .mlops/logs && test -d .mlops/tmp &&
	test -f .mlops/config && test -f mlops.lock &&
	git config -f .mlops/config core.compression >val && grep -q zstd val
'

test_expect_success 'init twice changes nothing' '
	cd fresh &&
	find .mlops mlops.lock -type f | sort | xargs sha256sum >before &&
	mlops init >out &&
	grep -q "Reinitialized existing" out &&
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

test_expect_success 'a stale lock is reported with how to clear it' '
	cd fresh && echo "999999 $(hostname)" >.mlops/lock &&
	mkdir d && echo x >d/f &&
	test_expect_code 5 mlops dataset add d 2>err &&
	grep -q "no longer running" err && grep -q "remove" err &&
	rm .mlops/lock && mlops dataset add d
'

test_expect_success 'a bad config value is a clear error' '
	cd fresh && git config -f .mlops/config core.compression lzma &&
	test_expect_code 4 mlops status 2>err &&
	grep -q "core.compression" err &&
	git config -f .mlops/config core.compression zstd
'

test_done
