# W4: push and pull through a remote.  The W2 tree (50,000 small files;
# --quick 1,000) and the W1 file (2 GiB; --quick 64 MiB), each pushed from
# a repository to an empty directory remote and to an empty prefix of a
# local S3 endpoint (moto on 127.0.0.1, started here and stopped at the
# end), then pulled into a fresh clone.  Peers: git-annex (directory
# special remote, copy --to / get --from) and the copy floors (cp -r and
# rsync -a of the data for the push, cp -r for the pull) for the directory
# remote; for S3 no peer can be installed from Debian.
W4_TITLE="push and pull"

w4() {
	local n=50000 size=2147483648
	[ "$QUICK" = 1 ] && n=1000 size=67108864
	local tree file data src inbytes t kinds="dir" tools=(limits)
	# moto accepts any key; set them so no real credentials are read.
	export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
	unset AWS_SESSION_TOKEN AWS_PROFILE
	tree=$(data_tree "$n" 2)
	file=$(data_random "$size" 1)
	record_meta W4.files "$n"
	record_meta W4.size "$size"
	if mlops_needs W4 push "dataset add" "remote add" push; then tools+=(mlops); fi
	mlops_can pull || record_skip W4 pull mlops "$WHY"
	if peer_can git-annex; then tools+=(git-annex); else record_skip W4 "push (tree, dir)" git-annex "$WHY"; fi
	if w4_s3_available; then
		kinds="dir s3"
	else
		record_skip W4 "push (tree, s3)" mlops "$WHY"
	fi
	for data in tree file; do
		if [ $data = tree ]; then src=$tree; else src=$file; fi
		inbytes=$(file_bytes "$src")
		warm "$src"
		for ((REP = 1; REP <= REPS; REP++)); do
			for t in $(rotate "$REP" "${tools[@]}"); do
				run_once_only W4 "$t" && continue
				case $t in
				mlops)
					for kind in $kinds; do w4_mlops "$src" "$inbytes" "$data" "$kind"; done
					;;
				*) "w4_${t//-/_}" "$src" "$inbytes" "$data" ;;
				esac
				settle
			done
		done
		unset REP
		empty_trash
	done
}

# Is there an S3 endpoint to start (moto for MLOPS_MOTO_PYTHON)?
w4_s3_available() {
	local py=${MLOPS_MOTO_PYTHON:-python3}
	if ! "$py" -c 'import moto.server, boto3' 2>/dev/null; then
		WHY="moto is not installed for $py (the S3 test endpoint)"
		return 1
	fi
}

# w4_s3_start: a fresh moto on 127.0.0.1 with an empty bucket "bench";
# sets W4_EP.  Restarted for each push, so that nothing accumulates in it.
w4_s3_start() {
	local port py=${MLOPS_MOTO_PYTHON:-python3}
	port=$(sh "$ROOT/tests/s3server.sh" start "$RUN/W4-s3" 2>"$RUN/W4-s3.err") || return 1
	W4_EP=http://127.0.0.1:$port
	"$py" -c "import boto3; boto3.client('s3', endpoint_url='$W4_EP', region_name='us-east-1').create_bucket(Bucket='bench')"
}

w4_s3_stop() { sh "$ROOT/tests/s3server.sh" stop "$RUN/W4-s3" 2>/dev/null; }

w4_mlops() {
	local src=$1 inbytes=$2 data=$3 kind=$4 ws="$RUN/W4-mlops" remote="$RUN/W4-remote" url
	local op="($data, $kind)"
	vc_init mlops "$ws"
	place "$src" "$ws/data"
	if [ "$kind" = s3 ]; then
		w4_s3_start || { record_skip W4 "push $op" mlops "moto did not start: $(head -n 1 "$RUN/W4-s3.err")"; discard "$ws"; return; }
		url="s3://bench/store"
	else
		fresh "$remote"
		url=$remote
	fi
	if ! (cd "$ws" && mlops -q dataset add data --name data >/dev/null &&
		if [ "$kind" = s3 ]; then
			mlops remote add bench "$url" --endpoint "$W4_EP" --region us-east-1 >/dev/null
		else
			mlops remote add bench "$url" >/dev/null
		fi &&
		git add -A >/dev/null && git commit -qm data); then
		record_skip W4 "push $op" mlops "setup failed"
		[ "$kind" = s3 ] && w4_s3_stop
		discard "$ws" "$remote"
		return
	fi
	settle
	if (cd "$ws" && bench_time W4 "push $op" mlops "$inbytes" "$MLOPS_BIN" push); then
		[ "$kind" = dir ] && bench_stored "$(bytes_of "$remote")"
		if mlops_can pull; then
			git clone -q "$ws" "$ws.co"
			(cd "$ws.co" && mlops init >/dev/null 2>&1 &&
				bench_time W4 "pull $op" mlops "$inbytes" "$MLOPS_BIN" pull)
			[ "$(file_bytes "$ws.co/data")" = "$inbytes" ] ||
				say "  W4 pull $op: WARNING: the clone holds $(file_bytes "$ws.co/data") bytes, expected $inbytes"
		fi
	fi
	[ "$kind" = s3 ] && w4_s3_stop
	chmod -R u+w "$ws" "$ws.co" "$remote" 2>/dev/null
	discard "$ws" "$ws.co" "$remote"
}

w4_git_annex() {
	local src=$1 inbytes=$2 data=$3 ws="$RUN/W4-annex" remote="$RUN/W4-annex-remote"
	local op="($data, dir)"
	vc_init git-annex "$ws"
	fresh "$remote"
	place "$src" "$ws/data"
	(cd "$ws" && git annex add -q data && git commit -qm data &&
		git annex initremote -q bench type=directory directory="$remote" encryption=none >/dev/null 2>&1) ||
		{ record_skip W4 "push $op" git-annex "setup failed"; vc_cleanup "$ws"; return; }
	settle
	(cd "$ws" && bench_time W4 "push $op" git-annex "$inbytes" git annex copy -q --to bench .)
	bench_stored "$(bytes_of "$remote")"
	git clone -q "$ws" "$ws.co"
	if (cd "$ws.co" && git annex init -q >/dev/null 2>&1 &&
		git annex enableremote -q bench directory="$remote" >/dev/null 2>&1); then
		(cd "$ws.co" && bench_time W4 "pull $op" git-annex "$inbytes" git annex get -q --from bench .)
	else
		record_skip W4 "pull $op" git-annex "enableremote failed in the clone"
	fi
	vc_cleanup "$ws"
	chmod -R u+w "$ws.co" "$remote" 2>/dev/null
	discard "$ws.co" "$remote"
}

w4_limits() {
	local src=$1 inbytes=$2 data=$3 dst="$RUN/W4-copy"
	local op="($data, dir)"
	discard "$dst"
	bench_time W4 "push $op" "cp (copy)" "$inbytes" cp -r "$src" "$dst"
	discard "$dst"
	settle
	# A pull writes the data into a work tree: the same copy is its floor
	# (50,000 files to create, where the push writes a few packs).
	bench_time W4 "pull $op" "cp (copy)" "$inbytes" cp -r "$src" "$dst"
	discard "$dst"
	settle
	if [ -d "$src" ]; then
		bench_time W4 "push $op" "rsync -a" "$inbytes" rsync -a "$src/" "$dst/"
	else
		bench_time W4 "push $op" "rsync -a" "$inbytes" rsync -a "$src" "$dst"
	fi
	discard "$dst"
	settle
}
