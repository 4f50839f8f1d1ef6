#!/bin/sh
# Git integration: hooks, the mlops.lock merge driver, mlops checkout COMMIT.
. "$(dirname "$0")/lib.sh"

setup_repo() {
	mkdir repo && cd repo && git init -q && mlops -q init &&
	mkdir data && echo v1 >data/a.txt && echo keep >data/b.txt &&
	mlops -q dataset add data --name d &&
	git add -A && git commit -q -m v1 &&
	mlops hooks install >../out &&
	grep -q "post-checkout: installed" ../out &&
	git add .gitattributes && git commit -q -m attrs
}

test_expect_success 'setup: two branches holding different dataset versions' '
	setup_repo &&
	git checkout -q -b feature &&
	echo v2 >data/a.txt && mlops -q dataset add data --name d &&
	git commit -q -am v2 &&
	git checkout -q main 2>../err &&
	test "$(cat data/a.txt)" = v1 &&
	grep -q "restored .data." ../err
'

test_expect_success 'git checkout switches the data' '
	cd repo &&
	git checkout -q feature 2>/dev/null && test "$(cat data/a.txt)" = v2 &&
	git checkout -q main 2>/dev/null && test "$(cat data/a.txt)" = v1 &&
	mlops status --exit-code
'

test_expect_success 'checkout of a single file does not restore (not a branch switch)' '
	cd repo && echo local >data/a.txt &&
	git checkout -q feature -- mlops.lock 2>../err &&
	test "$(cat data/a.txt)" = local &&
	git checkout -q main -- mlops.lock && mlops -q checkout --force
'

test_expect_success 'unrecorded changes are kept on a branch switch' '
	cd repo && echo mine >data/b.txt &&
	git checkout -q feature 2>../err &&
	grep -q "kept .data." ../err &&
	test "$(cat data/b.txt)" = mine &&
	git checkout -q main 2>/dev/null && mlops -q checkout --force && test "$(cat data/b.txt)" = keep
'

test_expect_success 'mlops checkout COMMIT restores the data of a commit, HEAD unchanged' '
	cd repo && head=$(git rev-parse HEAD) &&
	mlops checkout feature >../out &&
	test "$(cat data/a.txt)" = v2 &&
	test "$(git rev-parse HEAD)" = "$head" &&
	mlops status --exit-code &&
	mlops checkout main >/dev/null && test "$(cat data/a.txt)" = v1 &&
	git diff --quiet mlops.lock
'

test_expect_success 'git checkout mlops.lock && mlops checkout returns from a commit: a version records the data' '
	cd repo && git checkout -q main 2>/dev/null && mlops -q checkout --force &&
	mlops checkout feature >/dev/null && test "$(cat data/a.txt)" = v2 &&
	git checkout mlops.lock && mlops checkout >../out &&
	test "$(cat data/a.txt)" = v1 && grep -q "1 restored, 0 removed, 0 kept" ../out &&
	echo mine >data/a.txt && test_expect_code 9 mlops checkout >../out 2>../err &&
	grep -q "kept (unrecorded changes)" ../out && test "$(cat data/a.txt)" = mine &&
	! grep -q "hint:" ../out && test "$(wc -l <../err)" = 2 &&
	grep -q "^mlops: checkout: 1 path not restored: unrecorded changes kept$" ../err &&
	grep -q "^hint: .*mlops dataset add" ../err &&
	mlops -q checkout --force && test "$(cat data/a.txt)" = v1
'

test_expect_success 'git merge with changes to different entries merges cleanly' '
	cd repo &&
	git checkout -q -b other main 2>/dev/null &&
	mkdir other && echo o >other/x && mlops -q dataset add other &&
	git add -A && git commit -q -m other &&
	git checkout -q main 2>/dev/null &&
	git merge -q --no-edit feature 2>/dev/null &&
	git merge -q --no-edit other 2>../err &&
	! grep -q "<<<<<<<" mlops.lock &&
	grep -q "\"data\"" mlops.lock && grep -q "\"other\"" mlops.lock &&
	test "$(cat data/a.txt)" = v2 && test -f other/x
'

test_expect_success 'the same entry changed on both sides conflicts with markers naming both' '
	cd repo &&
	git checkout -q -b left 2>/dev/null && echo L >data/a.txt && mlops -q dataset add data --name d &&
	git commit -q -am left &&
	git checkout -q main 2>/dev/null && git checkout -q -b right 2>/dev/null &&
	echo R >data/a.txt && mlops -q dataset add data --name d && git commit -q -am right &&
	test_must_fail git merge --no-edit left >../out 2>&1 &&
	grep -q "<<<<<<< ours" mlops.lock && grep -q ">>>>>>> theirs" mlops.lock &&
	grep -q "changed on both sides: d@v[0-9]* (ours) and d@v[0-9]* (theirs)" ../out &&
	git merge --abort
'

test_expect_success 'a feature set changed on both sides: the message names both versions' '
	mkdir fconf && cd fconf && git init -q && mlops -q init &&
	printf "id,ts,x\na,2024-01-01,1\nb,2024-01-02,2\n" >u.csv && mlops -q dataset add u.csv --name u &&
	printf "{\"name\": \"uu\", \"source\": \"u\", \"entity\": \"id\", \"timestamp\": \"ts\",\n \"features\": [{\"name\": \"x\", \"column\": \"x\", \"transform\": \"identity\"}]}\n" >u.json &&
	mlops -q feature add u.json && mlops -q feature materialize uu &&
	mlops -q hooks install && git add -A && git commit -q -m base &&
	git checkout -q -b fa 2>/dev/null &&
	printf "id,ts,x\na,2024-01-01,1\nb,2024-01-02,3\n" >u.csv && mlops -q dataset add u.csv --name u &&
	mlops -q feature materialize uu && git commit -q -am fa &&
	git checkout -q -b fb HEAD~1 2>/dev/null &&
	sed "s/identity/standardize/" u.json >u2.json && mlops -q feature add u2.json &&
	mlops -q feature materialize uu && git add -A && git commit -q -m fb &&
	test_must_fail git merge --no-edit fa >../out 2>&1 &&
	grep -q "changed on both sides: uu@v3 (ours) and uu@v2 (theirs)" ../out &&
	git merge --abort
'

test_expect_success 'merge-lock names each kind of entry; equal version numbers by record id' '
	r1=$(printf "1%.0s" $(seq 64)) && r2=$(printf "2%.0s" $(seq 64)) &&
	printf "{\n  \"features\": {\n    \"f\": {\"spec\":\"$r1\",\"spec_version\":1}\n  },\n  \"paths\": {\n    \"p\": {\"dataset\":\"d\",\"id\":\"$r1\",\"record\":\"$r1\",\"version\":2}\n  },\n  \"version\": 1\n}\n" >kbase &&
	sed "s/\"spec_version\":1/\"spec_version\":2/; s/\"spec\":\"1*\"/\"spec\":\"$r2\"/" kbase >kours &&
	sed "s/\"spec_version\":1/\"spec_version\":3/; s/\"spec\":\"1*\"/\"spec\":\"$r2\"/" kbase >ktheirs &&
	test_expect_code 1 mlops merge-lock kbase kours ktheirs 2>err &&
	grep -q "^mlops: merge conflict in mlops.lock: .f. changed on both sides: f spec v2 (ours) and f spec v3 (theirs)$" err &&
	sed "s/\"record\":\"1*\"/\"record\":\"$r2\"/; s/\"id\":\"1*\"/\"id\":\"$r2\"/" kbase >kours &&
	sed "s/\"version\":2/\"version\":3/" kbase >ktheirs &&
	test_expect_code 1 mlops merge-lock kbase kours ktheirs 2>err &&
	grep -q "changed on both sides: d@v2 (ours) and d@v3 (theirs)$" err &&
	sed "s/\"record\":\"1*\"/\"record\":\"$r2\"/" kbase >kours &&
	sed "s/\"id\":\"1*\"/\"id\":\"$r2\"/" kbase >ktheirs &&
	test_expect_code 1 mlops merge-lock kbase kours ktheirs 2>err &&
	grep -q "changed on both sides: d@222222222222 (ours) and d@111111111111 (theirs)$" err
'

test_expect_success 'merge-lock alone: one-sided changes and conflicts' '
	printf "{\n  \"paths\": {\n    \"a\": {\"id\":\"1\"},\n    \"b\": {\"id\":\"2\"}\n  },\n  \"version\": 1\n}\n" >base &&
	sed "s/\"1\"/\"3\"/" base >ours && sed "s/\"2\"/\"4\"/" base >theirs &&
	mlops merge-lock base ours theirs &&
	grep -q "\"a\": {\"id\":\"3\"}" ours && grep -q "\"b\": {\"id\":\"4\"}" ours &&
	sed "s/\"1\"/\"5\"/" base >ours2 && sed "s/\"1\"/\"6\"/" base >theirs2 &&
	test_expect_code 1 mlops merge-lock base ours2 theirs2 2>err &&
	grep -q "<<<<<<<" ours2 && grep -q "both sides" err &&
	echo "not json" >bad && test_expect_code 4 mlops merge-lock base bad theirs
'

test_expect_success 'merge-lock: a path added inside a file the other side added conflicts' '
	printf "{\n  \"paths\": {\n  },\n  \"version\": 1\n}\n" >nbase &&
	printf "{\n  \"paths\": {\n    \"d\": {\"id\":\"1\",\"kind\":\"file\"}\n  },\n  \"version\": 1\n}\n" >nours &&
	printf "{\n  \"paths\": {\n    \"d/a/b\": {\"id\":\"2\",\"kind\":\"file\"}\n  },\n  \"version\": 1\n}\n" >ntheirs &&
	test_expect_code 1 mlops merge-lock nbase nours ntheirs 2>err &&
	grep -q "inside .d., which is a file" err && grep -q "<<<<<<<" nours &&
	printf "{\n  \"paths\": {\n    \"d\": {\"id\":\"1\",\"kind\":\"tree\"}\n  },\n  \"version\": 1\n}\n" >tours &&
	mlops merge-lock nbase tours ntheirs && grep -q "\"d/a/b\"" tours
'

test_expect_success 'a lock with a null entry (a conflict committed as written) is refused, clearly' '
	mkdir nullock && cd nullock && git init -q && mlops -q init &&
	printf "{\n  \"paths\": {\n    \"d/a\": null\n  },\n  \"version\": 1\n}\n" >mlops.lock &&
	test_expect_code 4 mlops status 2>err && grep -q "entry .d/a. is null" err &&
	test_expect_code 4 mlops checkout 2>err && grep -q "merge conflict" err
'

test_expect_success 'pre-commit refuses unrecorded data changes; --no-verify bypasses' '
	cd repo && git checkout -q main 2>/dev/null && mlops -q checkout --force &&
	echo dirty >data/a.txt && echo x >code.py && git add code.py &&
	test_must_fail git commit -q -m nope 2>../err &&
	grep -q "not recorded" ../err &&
	git commit -q --no-verify -m "forced" &&
	mlops -q checkout --force
'

test_expect_success 'pre-commit refuses a lock whose record is not in the store; status lists the path' '
	cd repo && git checkout -q main 2>/dev/null && mlops -q checkout --force &&
	ab=$(printf "ab%.0s" $(seq 32)) &&
	sed "s/\"record\":\"[0-9a-f]*\"/\"record\":\"$ab\"/" mlops.lock >../lock.new &&
	cp ../lock.new mlops.lock && git add mlops.lock &&
	test_must_fail git commit -q -m x 2>../err &&
	grep -q "names object abababababab (.record. of .data.), which is not in the store" ../err &&
	mlops status >../out &&
	grep -q "recorded versions not in the local store" ../out && grep -q "^  data (d@v[0-9]*)$" ../out &&
	mlops --json status >../out && grep -q "\"stored\":[[:space:]]*false" ../out &&
	git reset -q --hard && mlops -q checkout --force && mlops status --exit-code >../out &&
	! grep -q "not in the local store" ../out
'

test_expect_success 'pre-commit refuses a lock whose feature spec is not in the store' '
	cd fconf && git checkout -q fb 2>/dev/null &&
	cd=$(printf "cd%.0s" $(seq 32)) &&
	sed "s/\"spec\":\"[0-9a-f]*\"/\"spec\":\"$cd\"/" mlops.lock >../lock.new &&
	cp ../lock.new mlops.lock && git add mlops.lock &&
	test_must_fail git commit -q -m x 2>../err &&
	grep -q "names object cdcdcdcdcdcd (.spec. of .uu.), which is not in the store" ../err &&
	git reset -q --hard
'

test_expect_success 'data another version records is out of date, not modified; pre-commit lets the lock through' '
	cd repo && git checkout -q main 2>/dev/null && mlops -q checkout --force &&
	git checkout -q left -- mlops.lock &&
	test_expect_code 1 mlops status --exit-code >../out &&
	grep -q "out of date: data holds d@v[0-9]*, mlops.lock says d@v[0-9]* (run .mlops checkout.)" ../out &&
	! grep -q "modified" ../out && ! grep -q "dataset add" ../out &&
	mlops --json status >../out && grep -q "\"state\":[[:space:]]*\"outdated\"" ../out &&
	grep -q "\"holds\":" ../out &&
	git commit -q -m "older lock" 2>../err && grep -q "warning: .data. is out of date" ../err &&
	git reset -q --hard HEAD~1 && mlops -q checkout --force && mlops status --exit-code
'

test_expect_success 'an existing hook keeps running, first, with its status' '
	mkdir chain && cd chain && git init -q && mlops -q init &&
	printf "#!/bin/sh\necho theirs-ran >>\"$PWD/ran\"\nexit 0\n" >.git/hooks/pre-commit &&
	chmod +x .git/hooks/pre-commit &&
	mlops hooks install --hook pre-commit >out && grep -q chained out &&
	test -x .git/hooks/pre-commit.mlops-chained &&
	echo a >f && git add f && git commit -q -m one && grep -q theirs-ran ran &&
	printf "#!/bin/sh\nexit 3\n" >.git/hooks/pre-commit.mlops-chained &&
	echo b >f && git add f && test_must_fail git commit -q -m two
'

test_expect_success 'uninstall restores their hook' '
	cd chain && printf "#!/bin/sh\necho theirs\n" >.git/hooks/pre-commit.mlops-chained &&
	mlops hooks uninstall >out &&
	! test -e .git/hooks/pre-commit.mlops-chained &&
	grep -q "^echo theirs" .git/hooks/pre-commit &&
	! grep -q mlops-lock .gitattributes 2>/dev/null
'

test_expect_success 'uninstall after install --force puts their hook back and removes the .gitattributes it made' '
	mkdir forced && cd forced && git init -q && mlops -q init &&
	printf "#!/bin/sh\necho original\n" >.git/hooks/pre-commit && chmod +x .git/hooks/pre-commit &&
	mlops hooks install --force >out && grep -q "^pre-commit: installed (the old hook is kept" out &&
	test -f .git/hooks/pre-commit.mlops-backup && test -f .gitattributes &&
	mlops hooks uninstall >out &&
	grep -q "^pre-commit: removed, the previous hook restored$" out &&
	grep -q "^echo original" .git/hooks/pre-commit && test -x .git/hooks/pre-commit &&
	! test -e .git/hooks/pre-commit.mlops-backup && ! test -e .git/hooks/post-checkout &&
	! test -e .gitattributes
'

test_expect_success 'uninstall keeps a .gitattributes that holds other lines' '
	cd forced && echo "*.bin binary" >.gitattributes &&
	mlops -q hooks install && grep -q "merge=mlops-lock" .gitattributes &&
	mlops -q hooks uninstall && test "$(cat .gitattributes)" = "*.bin binary"
'

test_expect_success 'datasets added on two branches merge without a .gitignore conflict' '
	mkdir union && cd union && git init -q && mlops -q init && mlops -q hooks install &&
	grep -qx ".gitignore merge=union" .gitattributes &&
	git add -A && git commit -q -m init && git branch -M main &&
	git checkout -q -b b && echo b >b.csv && mlops -q dataset add b.csv &&
	git add -A && git commit -q -m b &&
	git checkout -q main 2>/dev/null && echo a >a.csv && mlops -q dataset add a.csv &&
	git add -A && git commit -q -m a &&
	git merge -q --no-edit b 2>err && grep -qx /a.csv .gitignore && grep -qx /b.csv .gitignore &&
	! grep -q "^<<<<<<<" .gitignore mlops.lock && mlops status --exit-code &&
	mlops -q hooks uninstall && ! grep -q "merge=union" .gitattributes
'

test_expect_success '--json hooks install and uninstall print JSON objects on stdout' '
	cd forced &&
	mlops --json hooks install --hook pre-commit --hook pre-push >out 2>err && ! test -s err &&
	test "$(head -c1 out)" = "{" && test "$(tail -n1 out)" = "}" &&
	tr -d "\n\t " <out >flat &&
	grep -q "\"hooks\":\[{\"name\":\"pre-commit\",\"action\":\"chained\"},{\"name\":\"pre-push\",\"action\":\"installed\"}\]" flat &&
	grep -q "\"dir\":\"[^\"]*/\.git/hooks\"" flat && grep -q "\"merge_driver\":true" flat &&
	mlops --json hooks uninstall >out 2>err && ! test -s err &&
	test "$(head -c1 out)" = "{" && tr -d "\n\t " <out >flat &&
	grep -q "\"hooks\":\[{\"name\":\"pre-commit\",\"action\":\"restored\"},{\"name\":\"pre-push\",\"action\":\"removed\"}\]" flat &&
	grep -q "\"merge_driver\":false" flat &&
	mlops --json hooks install --pre-commit-framework >out && tr -d "\n\t " <out >flat &&
	test "$(cat flat)" = "{\"file\":\".pre-commit-config.yaml\",\"action\":\"wrote\",\"merge_driver\":true}" &&
	mlops --json hooks install --pre-commit-framework >out && tr -d "\n\t " <out >flat &&
	grep -q "\"action\":\"unchanged\"" flat
'

test_expect_success 'hooks under core.hooksPath' '
	mkdir hp && cd hp && git init -q && mlops -q init &&
	git config core.hooksPath .githooks &&
	mlops -q hooks install && test -x .githooks/post-checkout && test -x .githooks/pre-commit
'

test_expect_success 'hooks exit 0 outside an mlops repository' '
	mkdir plain && cd plain && git init -q &&
	mlops hooks run post-checkout 0 0 1 && mlops hooks run pre-commit && mlops hooks run pre-push
'

test_expect_success 'a rebase does not restore data mid-way' '
	cd repo && git checkout -q main 2>/dev/null && mlops -q checkout --force &&
	git checkout -q -b rb 2>/dev/null && echo c >c.txt && git add c.txt && git commit -q -m c &&
	mkdir .git/rebase-merge &&
	git checkout -q feature 2>../err; rc=$?
	rmdir .git/rebase-merge; test $rc = 0 &&
	! grep -q restored ../err &&
	mlops -q checkout --force && git checkout -q main 2>/dev/null
'

test_expect_success '--pre-commit-framework writes .pre-commit-config.yaml' '
	mkdir pcf && cd pcf && git init -q && mlops -q init &&
	mlops hooks install --pre-commit-framework >out &&
	grep -q "entry: mlops hooks run pre-commit" .pre-commit-config.yaml &&
	mlops hooks install --pre-commit-framework >out && grep -q "already" out &&
	test $(grep -c "id: mlops-recorded" .pre-commit-config.yaml) = 1
'

test_done
