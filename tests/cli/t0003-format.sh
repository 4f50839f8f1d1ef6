#!/bin/sh
# The store's format version, .mlops/format: init writes it and keeps it
# out of git; a newer store is refused by every command, with nothing
# written; a malformed file is refused; a store made before versions (no
# file) works as it is.
. "$(dirname "$0")/lib.sh"

# Every file and link under the work tree (but .git/ and the test's err)
# with its content.
snapshot() {
	find . \( -path ./.git -o -path ./err \) -prune -o \( -type f -o -type l \) -print |
	sort | xargs sha256sum
}

newer_msg='mlops: .mlops: store format 2 is newer than this mlops understands (1); upgrade mlops'

test_expect_success 'init writes .mlops/format, out of git; init again changes nothing' '
	git init -q && mlops -q init &&
	printf "1\n" >expect && test_cmp expect .mlops/format && rm expect &&
	! grep -i format .mlops/config &&
	git status --porcelain --untracked-files=all >st && ! grep format st &&
	git check-ignore -q .mlops/format &&
	mkdir d && echo "a,b" >d/f.csv && mlops -q dataset add d &&
	git add -A && git commit -qm one &&
	git ls-files .mlops >files && printf ".mlops/.gitignore\n.mlops/config\n" >expect &&
	test_cmp expect files && rm expect files st &&
	snapshot >../before && mlops -q init && snapshot >../after && test_cmp ../before ../after
'

test_expect_success 'a clone gets a format of its own from init' '
	git clone -q . ../clone && ! test -e ../clone/.mlops/format &&
	(cd ../clone && mlops -q init && printf "1\n" >../expect &&
	 test_cmp ../expect .mlops/format && echo 2 >.mlops/format &&
	 test_expect_code 8 mlops status 2>../err && test -z "$(git status --porcelain)") &&
	mlops status && test_cmp ../expect .mlops/format
'

test_expect_success 'a newer store is refused with exit 8 and nothing written' '
	echo 2 >.mlops/format &&
	echo "c,d" >>d/f.csv && mkdir e && echo x >e/g &&
	snapshot >../before &&
	test_expect_code 8 mlops status 2>err && test_grep "^$newer_msg\$" err &&
	test_expect_code 8 mlops dataset add d 2>err && test_grep "^$newer_msg\$" err &&
	test_expect_code 8 mlops dataset add e --name e 2>err && test_grep "^$newer_msg\$" err &&
	test_expect_code 8 mlops dataset list 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops checkout 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops fsck 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops gc 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops remote add origin ../r 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops init 2>err && test_grep "$newer_msg" err &&
	! grep -q hint err &&
	snapshot >../after && test_cmp ../before ../after &&
	! test -e ../r && test -z "$(ls .mlops/tmp)"
'

test_expect_success 'in a newer store the hooks fail instead of passing unchecked' '
	test_expect_code 8 mlops hooks run pre-commit 2>err && test_grep "$newer_msg" err &&
	test_expect_code 8 mlops hooks run post-checkout 0 0 1 2>err
'

test_expect_success 'usage still works in a newer store' '
	mlops status -h >out && test_grep "usage: mlops status" out &&
	mlops dataset add -h >out && test_grep "usage: mlops dataset add" out && rm out
'

test_expect_success 'a newer store is refused from a subfolder, and with leading zeros' '
	mkdir -p sub/dir && (cd sub/dir && test_expect_code 8 mlops status 2>../../err) &&
	test_grep "$newer_msg" err && rmdir -p sub/dir &&
	printf "0002" >.mlops/format &&
	test_expect_code 8 mlops status 2>err && test_grep "^$newer_msg\$" err &&
	printf "184467440737095516160000\n" >.mlops/format &&
	test_expect_code 8 mlops status 2>err &&
	test_grep "store format 184467440737095516160000 is newer than this mlops understands (1)" err
'

test_expect_success 'a malformed .mlops/format is refused with exit 4 and nothing written' '
	printf "1\n" >.mlops/format && snapshot >../before &&
	echo two >.mlops/format &&
	test_expect_code 4 mlops status 2>err &&
	test_grep "^mlops: .\.mlops/format. holds .two.; expected the store format number and a newline, such as 1\$" err &&
	test_expect_code 4 mlops dataset add d 2>err && test_grep "\.mlops/format. holds .two." err &&
	test_expect_code 4 mlops init 2>err && test_grep "\.mlops/format. holds .two." err &&
	for bad in "" "-1\n" "1\r\n" " 1\n" "1 \n" "1\n\n" "1\n2\n" "+1\n" "0x1\n"; do
		printf "%b" "$bad" >.mlops/format &&
		test_expect_code 4 mlops status 2>err && test_grep "\.mlops/format" err || return 1
	done &&
	: >.mlops/format && test_expect_code 4 mlops status 2>err &&
	test_grep "\.mlops/format. is empty" err &&
	printf "1\033[2J\n" >.mlops/format && test_expect_code 4 mlops status 2>err &&
	test_grep "\.mlops/format. is malformed" err &&
	rm .mlops/format && mkdir .mlops/format && test_expect_code 4 mlops status 2>err &&
	test_grep "\.mlops/format. is not a regular file" err && rmdir .mlops/format &&
	printf "1\n" >.mlops/format && snapshot >../after && test_cmp ../before ../after
'

test_expect_success 'a store made before format versions works and is not given one' '
	rm .mlops/format &&
	mlops status >out && test_grep "modified: d (d@v1)" out &&
	mlops -q dataset add d && mlops -q dataset add e --name e &&
	mlops dataset list >out && test_grep "^e" out &&
	rm -rf d && mlops -q checkout && test "$(tail -n 1 d/f.csv)" = "c,d" &&
	mlops fsck && mlops status --exit-code && mlops -q gc &&
	mlops -q init && ! test -e .mlops/format
'

test_expect_success 'core.formatVersion in .mlops/config means nothing' '
	printf "1\n" >.mlops/format &&
	git config -f .mlops/config core.formatVersion 9 && mlops status &&
	git checkout -q .mlops/config
'

test_done
