#!/bin/sh
# Hostile repositories and the permissions of what mlops writes
# (SECURITY.md): an mlops.lock that comes with a clone must not make
# checkout, the git hooks or the merge driver write outside the work tree,
# into .git or through a symbolic link; .mlops/ follows the umask and
# objects are read-only.
. "$(dirname "$0")/lib.sh"

mlops -q init

# A blob in the store to point hostile lock entries at.
test_expect_success 'setup: one stored file' '
	printf "payload\n" >p.txt &&
	mlops -q dataset add p.txt -n p &&
	id=$(sed -n "s/.*\"p.txt\": {.*\"id\":\"\([0-9a-f]*\)\".*/\1/p" mlops.lock) &&
	test ${#id} = 64 && echo "$id" >../blob-id &&
	cp mlops.lock ../good.lock && rm p.txt
'

# hostile_lock PATH: a lock whose only entry is PATH.
hostile_lock() {
	printf '{"paths":{"%s":{"id":"%s","kind":"blob","mode":"100644","size":8}},"version":1}\n' \
		"$1" "$(cat ../blob-id)" >mlops.lock
}

test_cmp_text() {
	printf "%s\n" "$2" >expect.txt && test_cmp expect.txt "$1"
}

test_expect_success 'a valid lock restores (the control case)' '
	cp ../good.lock mlops.lock && mlops -q checkout && test_cmp_text p.txt payload
'

for bad in ../outside.txt /abs.txt a/../../outside.txt ./p.txt a//b \
	.git/hooks/post-checkout .GIT/config sub/.git/config .mlops/config mlops.lock ""; do
	test_expect_success "checkout refuses the lock path '$bad'" '
		hostile_lock "$bad" &&
		test_expect_code 4 mlops checkout 2>err &&
		grep -q "is not a path in the work tree" err &&
		! test -e ../outside.txt &&
		! test -e .git/hooks/post-checkout && ! test -e sub/.git/config &&
		test_expect_code 4 mlops merge-lock ../good.lock ../good.lock mlops.lock
	'
done

test_expect_success 'checkout does not write through a symbolic link in the work tree' '
	mkdir -p ../elsewhere && ln -s ../elsewhere evil &&
	hostile_lock evil/p.txt &&
	test_expect_code 9 mlops checkout 2>err &&
	grep -q "symbolic link .evil." err &&
	! test -e ../elsewhere/p.txt &&
	rm evil
'

test_expect_success 'checkout does not remove through a symbolic link either' '
	mkdir -p ../elsewhere/d && echo keep >../elsewhere/d/p.txt && ln -s ../elsewhere/d evil &&
	hostile_lock evil/p.txt && cp mlops.lock ../prev.lock &&
	printf "{\"paths\":{},\"version\":1}\n" >mlops.lock &&
	git add -f mlops.lock && git commit -qm empty &&
	cp ../prev.lock mlops.lock &&
	mlops -q checkout HEAD --force &&
	test -f ../elsewhere/d/p.txt && rm evil
'

test_expect_success 'objects are read-only; .mlops follows the umask (077)' '
	rm -rf ../u077 && mkdir ../u077 && cd ../u077 && git init -q &&
	(umask 077 && mlops -q init && printf "x\n" >f && mlops -q dataset add f &&
	 mlops -q dataset checkout f --to out) &&
	test -z "$(find .mlops -type f -perm /0277 -path "*/objects/*")" &&
	test -n "$(find .mlops/objects -type f)" &&
	test -z "$(find .mlops -perm /0077)" &&
	test -z "$(find out -type f -perm /0077)"
'

test_expect_success 'objects are read-only; .mlops follows the umask (022)' '
	rm -rf ../u022 && mkdir ../u022 && cd ../u022 && git init -q &&
	(umask 022 && mlops -q init && printf "x\n" >f && mlops -q dataset add f &&
	 mlops -q dataset checkout f --to out) &&
	test -z "$(find .mlops/objects -type f ! -perm 0444)" &&
	test -z "$(find .mlops -type d ! -perm 0755)" &&
	test -z "$(find out -type f ! -perm 0644)"
'

test_done
