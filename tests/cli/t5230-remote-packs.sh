#!/bin/sh
# Large objects on a directory remote: they travel in packs named by their
# index; a pull takes a pack whole (linked, or copied with
# remote.NAME.hardlinks false) once every object in it is verified.
. "$(dirname "$0")/lib.sh"

R=$TRASH/remote

# The packs of a remote named by their index (a zero pack id in the index).
bulk_packs() {
	for idx in "$1"/packs/*.idx; do
		[ -f "$idx" ] || continue
		case $(od -An -v -tx1 -j8 -N32 "$idx" | tr -d ' \n') in
		*[1-9a-f]*) ;;
		*) echo "${idx%.idx}.pack" ;;
		esac
	done
}
inode() { stat -c %i "$1"; }
# Is the store's pack $1 sealed: its index's mtime the pack's ctime plus
# 1 ns (store/odb.c)?
sealed() {
	_c=$(stat -c %.9Z "$1") && _m=$(stat -c %.9Y "${1%.pack}.idx") &&
	test "$(echo "$_c" | awk -F. '{ s = $1; n = $2 + 1; if (n == 1000000000) { s++; n = 0 }
		printf "%d.%09d", s, n }')" = "$_m"
}
# Does any pack of the store share its file with $1?
shared() { ls -i .mlops/objects/pack/*.pack 2>/dev/null | grep -q "^ *$(inode "$1") "; }
links() { stat -c %h "$1"; }
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }

test_expect_success 'push sends large objects in packs named by their index' '
	git init -q a && cd a && mlops -q init &&
	mkdir -p d1 d2 && head -c 3000000 /dev/urandom >d1/x.bin &&
	head -c 2500000 /dev/urandom >d1/y.bin && echo small >d1/s && i=0 &&
	while [ $i -lt 10 ]; do head -c 100000 /dev/urandom >d1/w$i; i=$((i + 1)); done &&
	head -c 2000000 /dev/urandom >d2/z.bin && head -c 99000 /dev/urandom >d2/one.bin &&
	mlops -q dataset add d1 && mlops -q dataset add d2 &&
	git add -A && git commit -qm data &&
	mlops -q remote add origin "$R" --default && mlops --json push >j &&
	test "$(bulk_packs "$R" | wc -l)" -ge 1 &&
	for p in $(bulk_packs "$R"); do test -f "$p" || return 1; done &&
	id=$(sha256sum d2/one.bin | cut -c1-64) && test -n "$(remote_pack_entry "$R" $id)" &&
	! test -e "$R/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)" &&
	mlops fsck --remote origin
'

test_expect_success 'pull links whole packs into the store: same bytes, same files' '
	git clone -q a b && cd b && mlops -q init && { mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	mlops -q pull && sums ../a/d1 >want && sums d1 >got && test_cmp want got &&
	cmp d2/z.bin ../a/d2/z.bin &&
	for p in $(bulk_packs "$R"); do
		l=.mlops/objects/pack/$(basename "$p") &&
		test -f "$l" && test "$(inode "$l")" = "$(inode "$p")" || return 1
	done &&
	# Packs of small objects too, stored under their index name.
	for p in "$R"/packs/*.pack; do
		ls -i .mlops/objects/pack/*.pack | grep -q "^ *$(inode "$p") " || return 1
	done &&
	mlops fsck >out && grep -q " 0 faults" out && mlops status --exit-code
'

test_expect_success 'with remote.NAME.hardlinks false the packs are copied' '
	git clone -q a c && cd c && mlops -q init && { mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	git config -f .mlops/config remote.origin.hardlinks false &&
	mlops -q pull && sums ../a/d1 >want && sums d1 >got && test_cmp want got &&
	n=0 && for p in $(bulk_packs "$R"); do
		l=.mlops/objects/pack/$(basename "$p") &&
		test -f "$l" && test "$(links "$l")" = 1 && cmp "$l" "$p" || return 1
		n=$((n + 1))
	done && test $n -ge 1 &&
	mlops fsck >out && grep -q " 0 faults" out
'

test_expect_success 'fetching part of a pack stores those objects one by one' '
	mkdir part && cd part && git init -q && mlops -q init && mlops -q remote add origin "$R" &&
	mlops -q fetch d2 && mlops -q dataset checkout d2 --to co &&
	cmp co/d2/z.bin ../a/d2/z.bin &&
	# d2 is 2.1 MB, d1 6.5 MB: no pack holding d1 objects was taken whole.
	test $(du -sb .mlops/objects | cut -f1) -lt 4000000 &&
	mlops fsck >out && grep -q " 0 faults" out
'

test_expect_success 'a damaged object in a pack: the pull names it and links nothing' '
	id=$(sha256sum a/d2/one.bin | cut -c1-64) && e=$(remote_pack_entry "$R" $id) &&
	set -- $e && test -f "$1" && pack=$1 &&
	cp "$pack" saved.pack &&
	chmod u+w "$pack" && flip_byte "$pack" $(($2 + 5000)) &&
	git clone -q a e && cd e && mlops -q init && { mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	test_expect_code 7 mlops pull 2>err && grep -q "$id" err && grep -q corrupt err &&
	! test -e .mlops/refs/datasets/d2 &&
	for l in .mlops/objects/pack/*.pack; do
		test ! -f "$l" || test "$(inode "$l")" != "$(inode "$pack")" || return 1
	done &&
	{ mlops fsck >out 2>&1; ! grep -q "^corrupt" out; } &&
	test_expect_code 1 mlops fsck --remote origin >out 2>&1 && grep -q "corrupt $id" out &&
	cd .. && cp saved.pack "$pack" && cd e && mlops -q pull && cmp d2/z.bin ../a/d2/z.bin
'

test_expect_success 'the store keeps linked packs when the remote loses them' '
	cp -r "$R" saved-remote && rm -rf "$R" &&
	cd b && mlops fsck >out && grep -q " 0 faults" out &&
	rm -rf d1 d2 && mlops -q dataset checkout d1 && mlops -q dataset checkout d2 &&
	sums ../a/d1 >want && sums d1 >got && test_cmp want got &&
	cd .. && mv saved-remote "$R"
'

test_expect_success 'gc --remote removes a pack nothing needs, fsck --remote stays clean' '
	cd a && before=$(bulk_packs "$R" | wc -l) &&
	mkdir g && head -c 3000000 /dev/urandom >g/big.bin && i=0 &&
	while [ $i -lt 20 ]; do head -c 100000 /dev/urandom >g/w$i; i=$((i + 1)); done &&
	mlops -q dataset add g && mlops -q push && test $(bulk_packs "$R" | wc -l) -gt $before &&
	mlops -q dataset rm g@v1 && git checkout -q mlops.lock && rm "$R/refs/datasets/g/v1" &&
	mlops gc --remote origin --grace now >out &&
	test $(bulk_packs "$R" | wc -l) = $before &&
	mlops fsck --remote origin &&
	cd ../b && rm -rf d1 && mlops -q pull && sums ../a/d1 >want && sums d1 >got && test_cmp want got
'

test_expect_success 'gc --remote takes a pack without its index for a push in flight for an hour' '
	cd a && o="$R/packs/$(printf "%064d" 5).pack" && printf "MLPACK01half" >"$o" &&
	mlops gc --remote origin --grace now >out && test -f "$o" &&
	touch -d "2 hours ago" "$o" &&
	mlops gc --remote origin --grace now >out && ! test -e "$o" &&
	mlops fsck --remote origin
'

# Split the one pack of remote $1 in two: the files of folder $2 (their
# ids are their SHA-256), with 16 bytes between the first two unless $3 is
# "nogap", and the rest; print the first pack and where its gap is.
split_pack() {
	python3 - "$1" "$2" "${3:-gap}" <<-\EOF
	import glob, hashlib, os, struct, sys
	R, files = sys.argv[1], sys.argv[2]
	blobs = {hashlib.sha256(open(f, "rb").read()).digest() for f in glob.glob(files + "/*")}
	idxp = glob.glob(R + "/packs/*.idx")[0]
	ib = open(idxp, "rb").read()
	packp = R + "/packs/" + ib[8:40].hex() + ".pack"
	pb = open(packp, "rb").read()
	n = struct.unpack("<Q", ib[48:56])[0]
	ents = [ib[56 + 56 * i:56 + 56 * (i + 1)] for i in range(n)]
	def write(part, gap_after_first):
	    out, at, gap = bytearray(pb[:8]), {}, 0
	    for k, e in enumerate(part):
	        off, ln = struct.unpack("<QQ", e[32:48])
	        at[k] = len(out)
	        out += pb[off:off + ln]
	        if k == 0 and gap_after_first:
	            gap = len(out)
	            out += b"between objects!"
	    pid = hashlib.sha256(out).digest()
	    ix = ib[:8] + pid + struct.pack("<QQ", len(out), len(part)) + b"".join(
	        e[:32] + struct.pack("<Q", at[k]) + e[40:] for k, e in enumerate(part))
	    open(R + "/packs/" + pid.hex() + ".pack", "wb").write(out)
	    open(R + "/packs/" + hashlib.sha256(ix).hexdigest() + ".idx", "wb").write(ix)
	    return R + "/packs/" + pid.hex() + ".pack", gap
	os.remove(idxp)
	os.remove(packp)
	write([e for e in ents if e[:32] not in blobs], False)
	print(*write([e for e in ents if e[:32] in blobs], sys.argv[3] == "gap"))
	EOF
}

test_expect_success 'a pack with bytes outside its objects is taken whole only when it matches its name' '
	S=$TRASH/gapped && git init -q s && cd s && mlops -q init && mkdir f && i=0 &&
	while [ $i -lt 20 ]; do echo "small $i" >f/$i; i=$((i + 1)); done &&
	mlops -q dataset add f && git add -A && git commit -qm f &&
	mlops -q remote add origin "$S" --default && mlops -q push &&
	test $(ls "$S"/packs/*.pack | wc -l) = 1 && chmod -R u+w "$S/packs" &&
	set -- $(split_pack "$S" f) && test -f "$1" && test $(ls "$S"/packs/*.pack | wc -l) = 2 &&
	mlops fsck --remote origin >out && grep -q " 0 faults" out &&
	cd .. && git clone -q s s1 && cd s1 && mlops -q init && mlops -q remote add origin "$S" &&
	mlops -q pull && sums ../s/f >want && sums f >got && test_cmp want got &&
	ls -i .mlops/objects/pack/*.pack | grep -q "^ *$(inode "$1") " &&
	# Every object is intact; only the pack is not what its name says.
	cd .. && flip_byte "$1" $(($2 + 3)) &&
	git clone -q s s2 && cd s2 && mlops -q init && mlops -q remote add origin "$S" &&
	mlops -q pull && sums ../s/f >want && sums f >got && test_cmp want got &&
	! ls -i .mlops/objects/pack/*.pack 2>/dev/null | grep -q "^ *$(inode "$1") " &&
	mlops fsck >out && grep -q " 0 faults" out &&
	test_expect_code 1 mlops fsck --remote origin >out 2>&1 && grep -q "does not match its name" out
'

test_expect_success 'a pack taken whole for some of its objects is checked against its name' '
	S=$TRASH/filled && cd s && mlops -q remote add second "$S" && mlops -q push second &&
	chmod -R u+w "$S/packs" && set -- $(split_pack "$S" f nogap) && test -f "$1" &&
	id=$(sha256sum f/0 | cut -c1-64) && set -- $(remote_pack_entry "$S" $id) &&
	flip_byte "$1" $(($2 + 1)) &&
	cd .. && git clone -q s s3 && cd s3 && mlops -q init && mlops -q remote add origin "$S" &&
	# All but one of the files here already, the damaged one among them.
	mkdir g && i=0 && while [ $i -lt 19 ]; do echo "small $i" >g/$i; i=$((i + 1)); done &&
	mlops -q dataset add g --name g &&
	mlops -q pull && sums ../s/f >want && sums f >got && test_cmp want got &&
	! ls -i .mlops/objects/pack/*.pack 2>/dev/null | grep -q "^ *$(inode "$1") " &&
	mlops fsck >out && grep -q " 0 faults" out
'

test_expect_success 'a path a killed pull was making is made again by the next pull' '
	git clone -q a k && cd k && mlops -q init && { mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	# What a pull killed while it checked out d1 leaves (.mlops/pull-new names d1).
	mkdir d1 && echo half >d1/x.bin && printf "[\"d1\"]" >.mlops/pull-new &&
	mlops -q pull && sums ../a/d1 >want && sums d1 >got && test_cmp want got &&
	! test -e .mlops/pull-new && mlops status --exit-code &&
	# Without that record, the same folder holds changes no version has: refused.
	cd .. && git clone -q a k2 && cd k2 && mlops -q init &&
	{ mlops -q remote add origin "$R" 2>/dev/null; true; } &&
	mkdir d1 && echo half >d1/x.bin &&
	test_must_fail mlops pull 2>err && grep -q "not recorded in any version" err &&
	test "$(cat d1/x.bin)" = half
'

test_expect_success 'push links the sealed packs of the store whole: no byte is written' '
	L=$TRASH/linked && git init -q p && cd p && mlops -q init &&
	git config -f .mlops/config core.packAfter 0 &&
	mkdir d && head -c 3000000 /dev/urandom >d/big.bin && i=0 &&
	while [ $i -lt 30 ]; do echo "small $i" >d/s$i; i=$((i + 1)); done &&
	mlops -q dataset add d && git add -A && git commit -qm d &&
	n=0 && for l in .mlops/objects/pack/*.pack; do sealed "$l" && n=$((n + 1)) || return 1; done &&
	test $n -ge 1 && ! ls .mlops/objects/?? >/dev/null 2>&1 &&
	mkdir "$L" && mlops -q remote add origin "$L" --default && start=$(date +%s) &&
	mlops --json push >j && grep -q "\"packs_linked\":[^0-9]*$n," j &&
	for l in .mlops/objects/pack/*.pack; do
		r="$L/packs/$(basename "$l")" &&
		test "$(inode "$r")" = "$(inode "$l")" && cmp "${r%.pack}.idx" "${l%.pack}.idx" &&
		# Sealed again after the link moved its ctime; its time is now.
		sealed "$l" && test $(stat -c %Y "$r") -ge $start || return 1
	done &&
	mlops fsck --remote origin >out && grep -q " 0 faults" out &&
	mlops push >out && grep -q "^objects: 0 sent" out &&
	cd .. && git clone -q p p1 && cd p1 && mlops -q init && mlops -q remote add origin "$L" &&
	mlops -q pull && sums ../p/d >want && sums d >got && test_cmp want got
'

test_expect_success 'with remote.NAME.hardlinks false push copies them' '
	C=$TRASH/copied && mkdir "$C" && cd p && mlops -q remote add copy "$C" &&
	git config -f .mlops/config remote.copy.hardlinks false &&
	mlops --json push copy >j && grep -q "\"packs_linked\":[^0-9]*0," j &&
	n=0 && for r in "$C"/packs/*.pack; do ! shared "$r" && n=$((n + 1)) || return 1; done &&
	test $n -ge 1 && mlops fsck --remote copy >out && grep -q " 0 faults" out &&
	cd .. && git clone -q p p2 && cd p2 && mlops -q init && mlops -q remote add origin "$C" &&
	mlops -q pull && sums ../p/d >want && sums d >got && test_cmp want got
'

test_expect_success 'a pack of the store changed since it was sealed is read and verified, not linked' '
	D=$TRASH/damaged && mkdir "$D" lp && cd p && mlops -q remote add third "$D" &&
	ln -s "$PWD/.mlops/objects/pack" ../lp/packs &&
	id=$(sha256sum d/s7 | cut -c1-64) && set -- $(remote_pack_entry ../lp $id) && test -f "$1" &&
	pack=$1 && cp "$pack" ../saved.pack && chmod u+w "$pack" && flip_byte "$pack" $(($2 + $3 - 1)) &&
	test_expect_code 7 mlops push third 2>err && grep -q "$id" err && grep -q corrupt err &&
	! test -e "$D/refs/datasets/d/v1" &&
	for r in "$D"/packs/*.pack; do test ! -f "$r" || test "$(inode "$r")" != "$(inode "$pack")" || return 1; done &&
	cp ../saved.pack "$pack" && ! sealed "$pack" &&
	mlops --json push third >j && grep -q "\"packs_linked\":[^0-9]*0," j &&
	for r in "$D"/packs/*.pack; do ! shared "$r" || return 1; done &&
	mlops fsck --remote third >out && grep -q " 0 faults" out
'

test_expect_success 'a large pack is verified by several threads: the same bytes, a damaged object named' '
	L=$TRASH/linked && L2=$TRASH/linked-copy && cp -r "$L" "$L2" &&
	git clone -q p vs1 && cd vs1 && mlops -q init && mlops -q remote add origin "$L" &&
	MLOPS_TEST_VERIFY_SPLIT_BYTES=1 mlops -q pull -j 4 && sums ../p/d >want && sums d >got && test_cmp want got &&
	id=$(sha256sum d/s7 | cut -c1-64) && set -- $(remote_pack_entry "$L2" $id) && test -f "$1" &&
	test $(od -An -tu8 -j48 -N8 "${1%.pack}.idx" | tr -d " ") -gt 1 &&
	chmod u+w "$1" && flip_byte "$1" $(($2 + $3 - 1)) &&
	cd .. && git clone -q p vs2 && cd vs2 && mlops -q init && mlops -q remote add origin "$L2" &&
	MLOPS_TEST_VERIFY_SPLIT_BYTES=1 test_expect_code 7 mlops pull -j 4 2>err &&
	grep -q "$id" err && grep -q corrupt err && ! test -e .mlops/refs/datasets/d && ! test -e d/s7
'

# A link across file systems fails (EXDEV): the push writes the bytes.
if [ "$(id -u)" = 0 ] && mkdir "$TRASH/other-fs" &&
   mount -t tmpfs -o size=64m tmpfs "$TRASH/other-fs" 2>/dev/null; then
test_expect_success 'a remote on another file system: the sealed packs are written, not linked' '
	X=$TRASH/other-fs/r && S=$TRASH/same-fs && mkdir "$X" "$S" &&
	git init -q xa && cd xa && mlops -q init && git config -f .mlops/config core.packAfter 0 &&
	mkdir d && head -c 2000000 /dev/urandom >d/big.bin && echo small >d/s &&
	mlops -q dataset add d && git add -A && git commit -qm d &&
	n=0 && for l in .mlops/objects/pack/*.pack; do sealed "$l" && n=$((n + 1)) || return 1; done &&
	test $n -ge 1 && mlops -q remote add other "$X" && mlops -q remote add same "$S" &&
	mlops --json push other >j && grep -q "\"packs_linked\":[^0-9]*0," j &&
	test $(ls "$X"/packs/*.pack | wc -l) -ge 1 &&
	mlops fsck --remote other >out && grep -q " 0 faults" out &&
	mlops --json push same >j && grep -q "\"packs_linked\":[^0-9]*$n," j &&
	cd .. && git clone -q xa xb && cd xb && mlops -q init && mlops -q remote add origin "$X" &&
	mlops -q pull && sums ../xa/d >want && sums d >got && test_cmp want got
'
umount "$TRASH/other-fs"
else
test_skip "a remote on another file system: mounting a tmpfs needs root"
fi

test_done
