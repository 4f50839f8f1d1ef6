# W10: commands a prompt or a hook runs: `mlops --version`, `mlops dataset
# list` in a repository with 1,000 dataset versions (--quick 100), made by
# adding a one-line file that changes each time, and `mlops register list`
# over 5,000 registry tags (--quick 500: ten models of 500 versions).
# Peers: `git --version`, `git log --oneline` over as many commits (made
# with git fast-import), and `git tag -l` over the same 5,000 tags.  Each is
# run 10 times per repetition.
W10_TITLE="start-up and listing"

w10() {
	local nver=1000 ntag=5000 i k t
	[ "$QUICK" = 1 ] && nver=100 ntag=500
	local ws="$RUN/W10-mlops" gws="$RUN/W10-git" tools=(git-version git-log)
	record_meta W10.versions "$nver"
	record_meta W10.tags "$ntag"
	WHY="mlops binary not found at $MLOPS_BIN (build it with make)"
	if [ -x "$MLOPS_BIN" ] && "$MLOPS_BIN" --version >/dev/null 2>&1; then
		tools+=(mlops-version)
	else
		record_skip W10 "--version" mlops "$WHY"
	fi
	if mlops_needs W10 "list (N versions)" "dataset add" "dataset list"; then
		say "  creating $nver dataset versions"
		vc_init mlops "$ws"
		for ((i = 1; i <= nver; i++)); do
			echo "$i" >"$ws/tiny.txt"
			(cd "$ws" && mlops -q dataset add tiny.txt --name tiny >/dev/null) ||
				{ record_skip W10 "list (N versions)" mlops "dataset add failed at version $i"; break; }
		done
		[ "$i" -gt "$nver" ] && tools+=(mlops-list)
	fi
	if [ -d "$ws/.mlops" ] && mlops_needs W10 "register list (N tags)" register "register list"; then
		say "  registering $ntag model versions"
		(cd "$ws" && git add -A >/dev/null && git commit -qm data) || true
		for ((i = 1; i <= ntag; i++)); do
			echo "$i" >"$ws/model.bin"
			(cd "$ws" && mlops -q register "m$((i % 10))" model.bin >/dev/null 2>&1) ||
				{ record_skip W10 "register list (N tags)" mlops "register failed at version $i"; break; }
		done
		[ "$i" -gt "$ntag" ] && tools+=(mlops-tags git-tags)
	fi
	fresh "$gws"
	(cd "$gws" && git init -q && w10_commits "$nver" | git fast-import --quiet && git reset -q --hard)
	for ((REP = 1; REP <= REPS; REP++)); do
		for ((k = 1; k <= 10; k++)); do
			for t in $(rotate $(((REP - 1) * 10 + k)) "${tools[@]}"); do
				case $t in
				mlops-version) bench_time W10 "--version" mlops "" "$MLOPS_BIN" --version >/dev/null ;;
				git-version) bench_time W10 "--version" git "" git --version >/dev/null ;;
				mlops-list) (cd "$ws" && bench_time W10 "list (N versions)" mlops "" "$MLOPS_BIN" dataset list) >/dev/null ;;
				git-log) (cd "$gws" && bench_time W10 "list (N versions)" "git log --oneline" "" git log --oneline) >/dev/null ;;
				mlops-tags) (cd "$ws" && bench_time W10 "register list (N tags)" mlops "" "$MLOPS_BIN" register list) >/dev/null ;;
				git-tags) (cd "$ws" && bench_time W10 "register list (N tags)" "git tag -l" "" git tag -l) >/dev/null ;;
				esac
			done 2>/dev/null
		done
	done
	unset REP
	rm -rf "$ws" "$gws"
}

# A fast-import stream of N commits, each changing one small file.
w10_commits() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n; i++) {
			d = i "\n"
			printf "commit refs/heads/main\nmark :%d\ncommitter B <b@example.com> %d +0000\n", i, 1700000000 + i
			printf "data %d\nversion %d\n", length("version " i), i
			if (i > 1) printf "from :%d\n", i - 1
			printf "M 100644 inline tiny.txt\ndata %d\n%s\n", length(d), d
		}
	}'
}
