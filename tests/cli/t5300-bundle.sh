#!/bin/sh
# mlops export and import: round trip, and archives that must be refused.
. "$(dirname "$0")/lib.sh"

# Everything import could have written: objects, refs, staging leftovers.
snapshot() { (find .mlops/objects .mlops/refs -type f; ls .mlops/tmp) 2>/dev/null | sort; }

# mkbundle OUT CASE: a malicious bundle built with Python's tarfile.
mkbundle() {
	python3 - "$1" "$2" <<'PY'
import hashlib, io, json, sys, tarfile
out, case = sys.argv[1], sys.argv[2]
good = b"good object\n"
gid = hashlib.sha256(good).hexdigest()
objs = [{"id": gid, "size": len(good)}]
refs = {}
entries = []
def reg(name, data, size=None):
    ti = tarfile.TarInfo(name); ti.size = len(data) if size is None else size
    entries.append((ti, io.BytesIO(data)))
if case == "traversal":
    reg("objects/" + gid, good); reg("../evil", b"x")
elif case == "absolute":
    reg("/tmp/mlops-evil-abs", b"x")
elif case == "symlink":
    ti = tarfile.TarInfo("objects/" + gid); ti.type = tarfile.SYMTYPE; ti.linkname = "/etc/passwd"
    entries.append((ti, None))
elif case == "hardlink":
    ti = tarfile.TarInfo("objects/" + gid); ti.type = tarfile.LNKTYPE; ti.linkname = "MANIFEST.json"
    entries.append((ti, None))
elif case == "device":
    ti = tarfile.TarInfo("objects/" + gid); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3
    entries.append((ti, None))
elif case == "oversized":
    big = good + b"and much more than the manifest says\n"
    reg("objects/" + gid, big)
elif case == "corrupt":
    reg("objects/" + gid, b"evil object\n")
elif case == "unlisted":
    reg("objects/" + gid, good); reg("objects/" + "ab" * 32, b"?")
elif case == "incomplete":
    rec = json.dumps({"type": "dataset", "name": "x", "version": 1, "entries": [
        {"path": "x", "id": "cd" * 32, "kind": "blob", "size": 3, "files": 1, "mode": "0644"}]}).encode()
    rid = hashlib.sha256(rec).hexdigest()
    objs = [{"id": rid, "size": len(rec)}]
    refs = {"datasets/x/v1": rid}
    reg("objects/" + rid, rec)
elif case == "late-manifest":
    reg("objects/" + gid, good)
man = json.dumps({"type": "bundle", "format": 1, "refs": refs, "objects": objs}).encode()
with tarfile.open(out, "w:gz") as t:
    if case != "late-manifest":
        ti = tarfile.TarInfo("MANIFEST.json"); ti.size = len(man); t.addfile(ti, io.BytesIO(man))
    for ti, f in entries:
        t.addfile(ti, f)
    if case == "late-manifest":
        ti = tarfile.TarInfo("MANIFEST.json"); ti.size = len(man); t.addfile(ti, io.BytesIO(man))
PY
}

test_expect_success 'set up a repository with two versions' '
	git init -q src && cd src && mlops -q init &&
	mkdir d && printf "one\n" >d/a && head -c 400000 /dev/urandom >d/big && ln -s a d/l &&
	mlops -q dataset add d && printf "two\n" >d/a && mlops -q dataset add d
'

test_expect_success 'export REV FILE writes a gzip tar with a manifest first' '
	cd src && mlops export d@v2 ../d2.tar.gz >out &&
	grep -q "exported to ../d2.tar.gz" out && grep -q "datasets/d/v2" out &&
	tar tzf ../d2.tar.gz >list && test "$(head -1 list)" = MANIFEST.json &&
	! grep -v "^MANIFEST.json$" list | grep -qv "^objects/[0-9a-f]\{64\}$" &&
	mlops --json export d@v2 ../d2-again.tar.gz >j &&
	grep -q "\"objects_added\":[[:space:]]*0" j && grep -q "\"new_name\":[[:space:]]*\"datasets/d/v2\"" j
'

test_expect_success 'import into another repository: same bytes, verified' '
	git init -q dst && cd dst && mlops -q init &&
	mlops import ../d2.tar.gz >out && grep -q "datasets/d/v2" out &&
	test "$(cat .mlops/refs/datasets/d/v2)" = "$(cat ../src/.mlops/refs/datasets/d/v2)" &&
	mlops -q dataset checkout d@v2 --to co &&
	cmp co/d/big ../src/d/big && test "$(cat co/d/a)" = two && test "$(readlink co/d/l)" = a &&
	mlops fsck
'

test_expect_success 'importing again adds nothing' '
	cd dst && mlops --json import ../d2.tar.gz >j &&
	grep -q "\"objects_added\":[[:space:]]*0" j
'

test_expect_success 'a version number taken by another version is renumbered' '
	cd src && mlops -q export d@v1 ../d1.tar.gz &&
	git init -q ../dst2 && cd ../dst2 && mlops -q init &&
	mkdir d && echo other >d/a && mlops -q dataset add d &&
	mlops import ../d1.tar.gz >out && grep -q "datasets/d/v1 -> datasets/d/v2" out &&
	test "$(cat .mlops/refs/datasets/d/v2)" = "$(cat ../src/.mlops/refs/datasets/d/v1)"
'

test_expect_success 'importing a renumbered version again finds it: no second number' '
	cd dst2 && mlops import ../d1.tar.gz >out && grep -q "datasets/d/v1 -> datasets/d/v2 (here already" out &&
	! test -e .mlops/refs/datasets/d/v3 && test "$(ls .mlops/refs/datasets/d)" = "v1
v2"
'

test_expect_success 'a fetch gives an imported version the remote number, not a second one' '
	cd src && mlops -q remote add bundles "$TRASH/bundle-remote" && mlops -q push bundles d@v1 &&
	cd ../dst2 && mlops -q remote add bundles "$TRASH/bundle-remote" &&
	x=$(cat ../src/.mlops/refs/datasets/d/v1) && y=$(cat .mlops/refs/datasets/d/v1) &&
	mlops fetch bundles >out 2>err &&
	test "$(cat .mlops/refs/datasets/d/v1)" = "$x" &&
	test "$(grep -l "$x" .mlops/refs/datasets/d/* | wc -l)" = 1 &&
	test "$(grep -l "$y" .mlops/refs/datasets/d/* | wc -l)" = 1 &&
	mlops -q fetch bundles && test "$(ls .mlops/refs/datasets/d | wc -l)" = 2
'

test_expect_success 'a training run exports with its inputs and outputs' '
	cd src && git add -A && git commit -qm data &&
	mlops -q train -n t -d d -- sh -c "echo weights >\$MLOPS_OUTPUT/model.bin" &&
	r=$(ls .mlops/refs/runs | head -1) &&
	mlops export r-$(echo $r | cut -c1-8) ../run.tar.gz >out && grep -q "runs/$r" out &&
	git init -q ../runs && cd ../runs && mlops -q init && mlops -q import ../run.tar.gz &&
	test "$(cat .mlops/refs/runs/$r)" = $r && mlops fsck &&
	rec=$(cat ../src/.mlops/refs/datasets/d/v2) &&
	ls .mlops/objects/$(echo $rec | cut -c1-2)/$(echo $rec | cut -c3-)* >/dev/null &&
	big=$(sha256sum ../src/d/big | cut -c1-64) && test "$(cat ../src/d/a)" = two
'

for case in traversal absolute symlink hardlink device oversized unlisted late-manifest; do
	test_expect_success "a malicious bundle ($case) is refused and nothing is written" '
		mkdir -p victim && cd victim && { test -d .mlops || { git init -q && mlops -q init; }; } &&
		mkbundle ../'$case'.tar.gz '$case' &&
		snapshot >before &&
		test_expect_code 4 mlops import ../'$case'.tar.gz 2>err &&
		grep -q "not a valid bundle" err &&
		snapshot >after && test_cmp before after &&
		! test -e ../evil && ! test -e /tmp/mlops-evil-abs
	'
done

test_expect_success 'a bundle whose object does not match its id is refused' '
	cd victim && mkbundle ../corrupt.tar.gz corrupt && snapshot >before &&
	test_expect_code 7 mlops import ../corrupt.tar.gz 2>err && grep -q corrupt err &&
	snapshot >after && test_cmp before after
'

test_expect_success 'a bundle missing what its ref needs is refused' '
	cd victim && mkbundle ../incomplete.tar.gz incomplete && snapshot >before &&
	test_expect_code 4 mlops import ../incomplete.tar.gz 2>err && grep -q "not a complete bundle" err &&
	grep -q "object cdcdcdcd[0-9a-f]* is missing" err &&
	snapshot >after && test_cmp before after
'

test_expect_success 'a bundle ref that is not a well-formed version of its record is refused' '
	cd src && mlops -q export d@v1 ../good.tar.gz && mkdir ../unpacked && tar -C ../unpacked -xzf ../good.tar.gz &&
	id=$(cat .mlops/refs/datasets/d/v1) && cd ../victim && snapshot >before &&
	for ref in lock datasets/evil/vABC datasets/evil/v1 datasets/d/v01 features/d/v1 runs/$id \
		runs/0000000000000000000000000000000000000000000000000000000000000001; do
		sed "s|\"datasets/d/v1\"|\"$ref\"|" ../unpacked/MANIFEST.json >../m.json &&
		mkdir -p ../re && rm -rf ../re/* && cp ../m.json ../re/MANIFEST.json && cp -r ../unpacked/objects ../re/ &&
		(cd ../re && tar -czf ../evil-ref.tar.gz MANIFEST.json objects/*) &&
		{ test_expect_code 4 mlops import ../evil-ref.tar.gz 2>err || return 1; } &&
		grep -q "not a valid bundle: .*ref .$ref" err || return 1
	done &&
	snapshot >after && test_cmp before after &&
	cd ../src && k=$(ls .mlops/refs/runcache | head -1) && test -n "$k" &&
	test_expect_code 2 mlops export runcache/$k x.tar.gz 2>err && grep -q "not a version" err &&
	! test -e x.tar.gz
'

test_expect_success 'a file that is not an archive is refused' '
	cd victim && echo "not a tar" >junk.tar.gz && test_expect_code 4 mlops import junk.tar.gz 2>err &&
	grep -q "^mlops: .junk.tar.gz. is not a valid bundle: it is not a gzip-compressed tar archive" err &&
	! grep -q "Unrecognized" err &&
	test_expect_code 3 mlops import no-such-file.tar.gz 2>err &&
	grep -q "^mlops: unable to open .no-such-file.tar.gz.: No such file or directory$" err
'

test_expect_success 'export of an unknown revision is "not found"' '
	cd src && test_expect_code 3 mlops export nosuch x.tar.gz && ! test -e x.tar.gz
'

test_expect_success 'set up a registered model' '
	git init -q mreg && cd mreg && mlops -q init && git add -A && git commit -qm init &&
	echo aaa >model.bin && mlops -q register mm model.bin
'

test_expect_success 'a model version exports by its ref or as NAME@vX.Y.Z, the same bundle' '
	cd mreg && mlops export models/mm/v0.0.1 ../mm.tar.gz >out && grep -q "models/mm/v0.0.1" out &&
	mlops -q export mm@v0.0.1 ../mm-rev.tar.gz &&
	tar -xzOf ../mm.tar.gz >a && tar -xzOf ../mm-rev.tar.gz >b && test_cmp a b
'

test_expect_success 'an imported model version is registered: tag, list, show, deploy' '
	git init -q mdst && cd mdst && mlops -q init && git add -A && git commit -qm init &&
	mlops import ../mm.tar.gz >out && grep -q "models/mm/v0.0.1" out &&
	test "$(git tag -l)" = mm@v0.0.1 &&
	mlops --json register list >list && grep -q "\"v0.0.1\"" list &&
	mlops register show mm@v0.0.1 >show &&
	grep -q "$(cat ../mreg/.mlops/refs/models/mm/v0.0.1 | cut -c1-12)" show &&
	git config -f .mlops/config deploy.dep.type dir && git config -f .mlops/config deploy.dep.path dep &&
	mlops -q deploy mm@v0.0.1 dep && cmp dep/current/model.json ../mreg/model.bin &&
	mlops import ../mm.tar.gz && test "$(git tag -l)" = mm@v0.0.1 && mlops fsck
'

test_expect_success 'a model version registered here as another record (by ref and tag, or by its tag alone) is refused (9)' '
	git init -q mconf && cd mconf && mlops -q init && git add -A && git commit -qm init &&
	echo bbb >model.bin && mlops -q register mm model.bin &&
	snapshot >before && git tag -l >tags-before &&
	test_expect_code 9 mlops import ../mm.tar.gz 2>err && grep -q "mm@v0.0.1" err &&
	snapshot >after && test_cmp before after && git tag -l >tags-after && test_cmp tags-before tags-after &&
	rm .mlops/refs/models/mm/v0.0.1 && snapshot >before &&
	test_expect_code 9 mlops import ../mm.tar.gz 2>err && grep -q "mm@v0.0.1" err &&
	snapshot >after && test_cmp before after
'

test_expect_success 'a model version into a repository without a commit is refused, nothing written' '
	git init -q mnocommit && cd mnocommit && mlops -q init && snapshot >before &&
	test_expect_code 3 mlops import ../mm.tar.gz 2>err && grep -q "no commit" err &&
	snapshot >after && test_cmp before after && test -z "$(git tag -l)"
'

test_expect_success 'export of a well-formed ref that names no version is "not found" (3)' '
	cd mreg && for rev in datasets/s/v9 features/nosuch/v1 models/mm/v0.1.0; do
		{ test_expect_code 3 mlops export $rev x.tar.gz 2>err || return 1; } &&
		grep -q "unknown revision .$rev." err && ! test -e x.tar.gz || return 1
	done
'

# remanifest IN OUT SED: the bundle IN with its manifest edited by SED.
remanifest() {
	rm -rf "$TRASH/remani" && mkdir "$TRASH/remani" && tar -C "$TRASH/remani" -xzf "$1" &&
	sed "$3" "$TRASH/remani/MANIFEST.json" >"$TRASH/remani/m" && mv "$TRASH/remani/m" "$TRASH/remani/MANIFEST.json" &&
	(cd "$TRASH/remani" && tar -czf "$2" MANIFEST.json objects/*)
}

test_expect_success 'a manifest with text after the object or a key twice is refused (4)' '
	cd victim && snapshot >before &&
	remanifest "$TRASH/work/mm.tar.gz" "$TRASH/work/trailing.tar.gz" "s/\$/ junk/" &&
	test_expect_code 4 mlops import ../trailing.tar.gz 2>err &&
	grep -q "not a valid bundle: its manifest has text after" err &&
	remanifest "$TRASH/work/mm.tar.gz" "$TRASH/work/twice.tar.gz" "s/^{/{\"refs\":{},/" &&
	test_expect_code 4 mlops import ../twice.tar.gz 2>err &&
	grep -q "not a valid bundle: its manifest is malformed: key .refs. is given twice" err &&
	snapshot >after && test_cmp before after && test -z "$(git tag -l)"
'

test_expect_success 'a bundle of a newer format says to upgrade mlops' '
	cd victim && snapshot >before &&
	remanifest "$TRASH/work/mm.tar.gz" "$TRASH/work/newer.tar.gz" "s/\"format\":1/\"format\":99/" &&
	test_expect_code 4 mlops import ../newer.tar.gz 2>err &&
	grep -q "made by a newer mlops (bundle format 99.*upgrade mlops" err && ! grep -q malformed err &&
	snapshot >after && test_cmp before after
'

test_expect_success 'export to - writes the bundle to standard output, import - reads it' '
	cd mreg && mlops export mm@v0.0.1 - >../stdout.tar.gz 2>err &&
	! test -e ./- && grep -q "exported to standard output" err &&
	tar -xzOf ../mm.tar.gz MANIFEST.json >m1 && tar -xzOf ../stdout.tar.gz MANIFEST.json >m2 && test_cmp m1 m2 &&
	mlops --json export mm@v0.0.1 - 2>j | tar -tzf - >list && grep -q MANIFEST.json list &&
	grep -q "\"file\":[[:space:]]*\"-\"" j &&
	git init -q ../mstdin && cd ../mstdin && mlops -q init && git add -A && git commit -qm init &&
	mlops import - <../mm.tar.gz >out && grep -q "imported standard input" out &&
	test "$(git tag -l)" = mm@v0.0.1
'

test_expect_success 'export onto a directory is refused before anything is written (6)' '
	cd mreg && mkdir adir && test_expect_code 6 mlops export mm@v0.0.1 adir 2>err &&
	grep -q "^mlops: unable to write .adir.: Is a directory$" err &&
	test -z "$(ls adir)" && test -z "$(ls -d adir.tmp-* 2>/dev/null)"
'

test_expect_success 'import of a directory is "cannot be read" (6)' '
	cd victim && mkdir -p adir && test_expect_code 6 mlops import adir 2>err &&
	grep -q "^mlops: unable to read .adir.: Is a directory$" err
'

test_expect_success 'export and import answer -h outside a repository' '
	cd / && mlops export -h >"$TRASH/o1" && mlops import -h >"$TRASH/o2" &&
	grep -q "usage: mlops export" "$TRASH/o1" && grep -q "usage: mlops import" "$TRASH/o2"
'

test_done
