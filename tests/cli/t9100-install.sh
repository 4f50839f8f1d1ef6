#!/bin/sh
# make install PREFIX=/usr DESTDIR=DIR puts the binary, the manual pages and
# the completions where the system's man, bash, zsh and fish look for them
# (under DIR); the installed binary runs and finds its pages; make uninstall
# removes every file it installed and nothing else.
. "$(dirname "$0")/lib.sh"

D=$TRASH/dest
# The build under test: its binary and its build directory (build/ or
# build-san/), so that make installs them as they are and rebuilds nothing.
BUILD_DIR=$(dirname "${MLOPS_MANDIR:-$TEST_ROOT/build/man}")
unset MAKEFLAGS MFLAGS MAKELEVEL MANPATH
mk() {
	make -s -C "$TEST_ROOT" BUILD="$BUILD_DIR" BIN="$MLOPS_BIN" -o "$MLOPS_BIN" "$@"
}
pages=$(cd "$TEST_ROOT/man" && ls ./*.scd | sed 's,^\./,,; s/\.scd$//')

test_expect_success 'make install PREFIX=/usr DESTDIR=DIR' '
	mk install PREFIX=/usr DESTDIR="$D" >log 2>&1 || { cat log; return 1; }
	test -x "$D/usr/bin/mlops" &&
	cmp "$MLOPS_BIN" "$D/usr/bin/mlops" &&
	find "$D" -type f | sed "s,^$D,," | sort >files &&
	test "$(grep -c . files)" = $(($(echo "$pages" | grep -c .) + 4)) &&
	! grep -v "^/usr/" files
'

test_expect_success 'the installed binary runs' '
	"$D/usr/bin/mlops" --version >v && mlops --version >w && test_cmp w v &&
	git init -q r && "$D/usr/bin/mlops" -C r init >out && test -d r/.mlops &&
	"$D/usr/bin/mlops" -C r status >out
'

test_expect_success 'every manual page is installed, and man finds it beside the binary' '
	for p in $pages; do
		test -s "$D/usr/share/man/man1/$p" || { echo "no man1/$p" >&2; return 1; }
	done &&
	if test_have_cmd man; then
		PATH="$D/usr/bin:$PATH" man -w mlops-dataset >where &&
		test "$(cat where)" = "$D/usr/share/man/man1/mlops-dataset.1" &&
		(cd r && env -u MLOPS_MANDIR PATH="$D/usr/bin:$PATH" MANPAGER=cat mlops help dataset >../help 2>&1) &&
		grep -q "versioned datasets" help
	fi
'

test_expect_success 'bash: the completion is where bash-completion loads it, and completes' '
	dir=/usr/share/bash-completion/completions &&
	if test_have_cmd pkg-config && pkg-config --exists bash-completion; then
		dir=$(pkg-config --variable=completionsdir bash-completion)
	fi &&
	test -f "$D$dir/mlops" &&
	if test_have_cmd bash; then
		cat >c.bash <<-EOF &&
		. "$D$dir/mlops"
		comp() { COMP_WORDS=("\$@"); COMP_CWORD=\$((\$# - 1)); COMPREPLY=(); _mlops; echo "\${COMPREPLY[*]}"; }
		comp mlops da
		comp mlops dataset ch
		EOF
		PATH="$D/usr/bin:$PATH" bash c.bash >out &&
		sed -n 1p out | grep -qx dataset && sed -n 2p out | grep -qx checkout
	fi
'

test_expect_success 'fish: the completion is in a vendor directory fish reads, and completes' '
	test -f "$D/usr/share/fish/vendor_completions.d/mlops.fish" &&
	if test_have_cmd fish; then
		fish -c "printf \"%s\\n\" \$fish_complete_path" >paths &&
		grep -qx /usr/share/fish/vendor_completions.d paths &&
		PATH="$D/usr/bin:$PATH" fish -c "source $D/usr/share/fish/vendor_completions.d/mlops.fish; complete -C \"mlops datas\"" >out &&
		grep -q "^dataset" out
	fi
'

test_expect_success 'zsh: the completion is installed and parses' '
	test -f "$D/usr/share/zsh/vendor-completions/_mlops" &&
	head -n 1 "$D/usr/share/zsh/vendor-completions/_mlops" | grep -q "^#compdef mlops" &&
	if test_have_cmd zsh; then zsh -n "$D/usr/share/zsh/vendor-completions/_mlops"; fi
'

test_expect_success 'zsh: _mlops is in a directory of the default fpath' '
	if ! test_have_cmd zsh; then echo "zsh is not installed" >&2; return 1; fi
	for d in $(zsh -fc "print -l \$fpath"); do
		test -f "$D$d/_mlops" && return 0
	done
	return 1
'

test_expect_success 'make uninstall removes what make install put there, and nothing else' '
	echo keep >"$D/usr/bin/other" && echo keep >"$D/usr/share/man/man1/other.1" &&
	mk uninstall PREFIX=/usr DESTDIR="$D" >log 2>&1 || { cat log; return 1; }
	find "$D" -type f | sed "s,^$D,," | sort >left &&
	printf "/usr/bin/other\n/usr/share/man/man1/other.1\n" >want &&
	test_cmp want left
'

test_done
