#!/bin/sh
# Usage lines, manual pages and completions agree; -h works everywhere.
. "$(dirname "$0")/lib.sh"

cmds=$(mlops __complete commands)

test_expect_success 'every command answers -h outside a repository' '
	for c in $cmds; do
		mlops $c -h >out 2>err || { echo "$c -h failed" >&2; return 1; }
		grep -q "^usage: mlops $c" out || { echo "$c -h: no usage" >&2; return 1; }
	done
'

test_expect_success 'every command has a manual page listing each option of its usage' '
	for c in $cmds; do
		page="$TEST_ROOT/man/mlops-$c.1.scd"
		test -f "$page" || { echo "no $page" >&2; return 1; }
		for o in $(mlops $c -h | grep -o -- "--[a-z][a-z0-9-]*" | sort -u); do
			grep -q -- "\*$o\*" "$page" || { echo "$c: $o not in $page" >&2; return 1; }
		done
		sub_lines=$(mlops $c -h | sed -n "s/^ *\(usage:\|or:\) mlops $c \([a-z][a-z-]*\).*/\2/p")
		for s in $sub_lines; do
			grep -q "$c $s" "$page" || { echo "$c $s not in $page" >&2; return 1; }
		done
	done
'

test_expect_success 'mlops(1) lists every command' '
	for c in $cmds; do
		grep -q "^\*$c\*" "$TEST_ROOT/man/mlops.1.scd" || { echo "$c not in mlops.1" >&2; return 1; }
	done
'

test_expect_success 'the committed completions are generated from the current usage lines' '
	"$TEST_ROOT/scripts/gen-completions" "$MLOPS_BIN" gen &&
	for f in mlops.bash _mlops mlops.fish; do
		test_cmp "$TEST_ROOT/completions/$f" gen/$f || {
			echo "completions/$f is stale: run scripts/gen-completions" >&2; return 1; }
	done
'

test_expect_success 'every command and subcommand is in all three completion files' '
	for c in $cmds; do
		for f in mlops.bash _mlops mlops.fish; do
			grep -q "$c" "$TEST_ROOT/completions/$f" || { echo "$c not in $f" >&2; return 1; }
		done
	done
'

test_expect_success 'bash completion completes commands, subcommands, options and names' '
	test_have_cmd bash || return 0
	mkdir repo && cd repo && mlops -q init && mkdir d && echo 1 >d/f && mlops -q dataset add d --name train &&
	cat >c.bash <<-\EOS &&
	mlops() { "$MLOPS_BIN" "$@"; }
	. "$TEST_ROOT/completions/mlops.bash"
	comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _mlops; echo "${COMPREPLY[*]}"; }
	comp mlops da
	comp mlops dataset ch
	comp mlops dataset checkout --f
	comp mlops dataset show tr
	EOS
	MLOPS_BIN=$MLOPS_BIN TEST_ROOT=$TEST_ROOT bash c.bash >out &&
	sed -n 1p out | grep -qx dataset &&
	sed -n 2p out | grep -qx checkout &&
	sed -n 3p out | grep -qx -- --force &&
	sed -n 4p out | grep -q "train@v1"
'

test_expect_success 'dynamic values: remotes, deploy targets, models and their stages' '
	cd repo &&
	mlops -q remote add origin "$PWD/../store" &&
	git config -f .mlops/config deploy.prod.type dir && git config -f .mlops/config deploy.prod.path srv &&
	git add -A && git commit -qm c &&
	echo x >m.bin && mlops -q register clf m.bin &&
	mlops __complete values push >v && grep -qx origin v &&
	mlops __complete values deploy >v && grep -qx prod v && grep -qx "clf@v0.0.1" v &&
	grep -qx "clf#prod" v &&
	mlops __complete values register promote >v && grep -qx clf v
'

test_expect_success 'completion skips option values, knows subcommands, offers runs, remotes, choices' '
	test_have_cmd bash || return 0
	cd repo && printf "x,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n7,0\n8,1\n" >cancer.csv &&
	mlops -q dataset add cancer.csv && mlops -q train --builtin logistic -d cancer --target y &&
	run=$(mlops train list | sed -n "s/^\(r-[0-9a-f]*\) .*/\1/p" | head -1) && test -n "$run" &&
	cat >c.bash <<-\EOS &&
	mlops() { "$MLOPS_BIN" "$@"; }
	. "$TEST_ROOT/completions/mlops.bash"
	comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _mlops; echo "${COMPREPLY[*]}"; }
	comp mlops train -d c
	comp mlops train --builtin logistic -d cancer --ta
	comp mlops train --builtin l
	comp mlops register cancer --r
	comp mlops train show r-
	comp mlops gc --remote o
	comp mlops fsck --remote o
	comp mlops dataset list --js
	comp mlops monitor check --wass
	EOS
	MLOPS_BIN=$MLOPS_BIN TEST_ROOT=$TEST_ROOT bash c.bash >out &&
	sed -n 1p out | grep -qx "cancer cancer@v1" &&
	sed -n 2p out | grep -qx -- --target &&
	sed -n 3p out | grep -qx "linear logistic" &&
	sed -n 4p out | grep -qx -- --run &&
	sed -n 5p out | grep -qx "$run" &&
	sed -n 6p out | grep -qx origin &&
	sed -n 7p out | grep -qx origin &&
	sed -n 8p out | grep -qx -- --json &&
	sed -n 9p out | grep -qx -- --wasserstein
'

test_expect_success 'zsh and fish completions parse' '
	if test_have_cmd zsh; then zsh -n "$TEST_ROOT/completions/_mlops" || return 1; fi
	if test_have_cmd fish; then fish -n "$TEST_ROOT/completions/mlops.fish" || return 1; fi
	return 0
'

test_expect_success 'help opens a manual page' '
	test_have_cmd man || return 0
	MANPAGER=cat MLOPS_MANDIR="$MLOPS_MANDIR" mlops help dataset >out 2>&1 &&
	grep -q "versioned datasets" out
'

test_done
