# W4: push the W2 tree (50,000 small files; --quick 1,000) to an empty
# directory remote, then pull it into a fresh clone.  Peers: git-annex
# (directory special remote, copy --to / get --from) and the copy floors
# (cp -r and rsync -a of the store).
W4_TITLE="push and pull"

w4() {
	local n=50000
	[ "$QUICK" = 1 ] && n=1000
	local src inbytes t tools=(limits)
	src=$(data_tree "$n" 2)
	inbytes=$(file_bytes "$src")
	if mlops_needs W4 push "dataset add" "remote add" push; then tools+=(mlops); fi
	mlops_can pull || record_skip W4 pull mlops "$WHY"
	if peer_can git-annex; then tools+=(git-annex); else record_skip W4 push git-annex "$WHY"; fi
	warm "$src"
	for ((REP = 1; REP <= REPS; REP++)); do
		for t in $(rotate "$REP" "${tools[@]}"); do
			run_once_only W4 "$t" && continue
			"w4_${t//-/_}" "$src" "$inbytes"
			settle
		done
	done
	unset REP
}

w4_mlops() {
	local src=$1 inbytes=$2 ws="$RUN/W4-mlops" remote="$RUN/W4-remote"
	vc_init mlops "$ws"
	fresh "$remote"
	place "$src" "$ws/data"
	(cd "$ws" && mlops -q dataset add data --name tree >/dev/null &&
		mlops remote add bench "$remote" >/dev/null &&
		git add -A >/dev/null && git commit -qm data) || { record_skip W4 push mlops "setup failed"; return; }
	settle
	(cd "$ws" && bench_time W4 push mlops "$inbytes" "$MLOPS_BIN" push) || return
	bench_stored "$(bytes_of "$remote")"
	if mlops_can pull; then
		git clone -q "$ws" "$ws.co"
		(cd "$ws.co" && mlops init >/dev/null 2>&1; bench_time W4 pull mlops "$inbytes" "$MLOPS_BIN" pull)
	fi
	rm -rf "$ws" "$ws.co" "$remote"
}

w4_git_annex() {
	local src=$1 inbytes=$2 ws="$RUN/W4-annex" remote="$RUN/W4-annex-remote"
	vc_init git-annex "$ws"
	fresh "$remote"
	place "$src" "$ws/data"
	(cd "$ws" && git annex add -q data && git commit -qm data &&
		git annex initremote -q bench type=directory directory="$remote" encryption=none >/dev/null 2>&1) ||
		{ record_skip W4 push git-annex "setup failed"; vc_cleanup "$ws"; return; }
	settle
	(cd "$ws" && bench_time W4 push git-annex "$inbytes" git annex copy -q --to bench .)
	bench_stored "$(bytes_of "$remote")"
	git clone -q "$ws" "$ws.co"
	if (cd "$ws.co" && git annex init -q >/dev/null 2>&1 &&
		git annex enableremote -q bench directory="$remote" >/dev/null 2>&1); then
		(cd "$ws.co" && bench_time W4 pull git-annex "$inbytes" git annex get -q --from bench .)
	else
		record_skip W4 pull git-annex "enableremote failed in the clone"
	fi
	vc_cleanup "$ws"
	chmod -R u+w "$ws.co" "$remote" 2>/dev/null
	rm -rf "$ws.co" "$remote"
}

w4_limits() {
	local src=$1 inbytes=$2 dst="$RUN/W4-copy"
	rm -rf "$dst"
	bench_time W4 push "cp (copy)" "$inbytes" cp -r "$src" "$dst"
	rm -rf "$dst"
	settle
	bench_time W4 push "rsync -a" "$inbytes" rsync -a "$src/" "$dst/"
	rm -rf "$dst"
}
