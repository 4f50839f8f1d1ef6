#!/bin/sh
# mlops deploy REV TARGET for dir, archive and command targets; rollback,
# list, history; stage-restricted targets; what is refused.
. "$(dirname "$0")/lib.sh"

FIX="$TEST_ROOT/tests/fixtures/serve"

mlops -q init
cfg() { git config -f .mlops/config "$@"; }
cfg deploy.prod.type dir
cfg deploy.prod.path releases/prod
cfg deploy.bundle.type archive
cfg deploy.bundle.path bundles
cfg deploy.bundle2.type archive
cfg deploy.bundle2.path bundles2
cfg deploy.ship.type command
cfg deploy.ship.command "sh ship.sh --fast"
cfg deploy.gated.type dir
cfg deploy.gated.path releases/gated
cfg deploy.gated.stage production
mkdir -p m1 m2 && cp "$FIX/mixed.json" m1/model.json && cp "$FIX/wine.json" m2/model.json
cat >ship.sh <<'EOS'
echo "args: $*" >>ship.log
echo "$MLOPS_TARGET $MLOPS_MODEL_NAME $MLOPS_MODEL_VERSION $MLOPS_MODEL_DIR" >>ship.log
test -f "$MLOPS_MODEL_DIR/model.json" && test -f "$MLOPS_MODEL_DIR/MANIFEST" || exit 3
test ! -e fail
EOS

# strip_exec_list DIR TARGET: release DIR's record.json as builds before
# its "executable" list wrote it (the list removed), with the MANIFEST, the
# folder's name and TARGET's history made to match, as such a build left them.
strip_exec_list() {
	sed "s/\"executable\":\[[^]]*\],//" "$1/record.json" >"$1/record.tmp" &&
	mv "$1/record.tmp" "$1/record.json" && ! grep -q executable "$1/record.json" &&
	_sum=$(sha256sum "$1/record.json" | cut -d" " -f1) &&
	sed "s/^[0-9a-f]*  record.json\$/$_sum  record.json/" "$1/MANIFEST" >"$1/MANIFEST.tmp" &&
	mv "$1/MANIFEST.tmp" "$1/MANIFEST" &&
	_new="${1%-*}-$(sha256sum "$1/MANIFEST" | cut -c1-12)" && mv "$1" "$_new" &&
	sed "s/${1##*/}/${_new##*/}/g" ".mlops/deploy/$2/history" >history.tmp &&
	mv history.tmp ".mlops/deploy/$2/history"
}

test_expect_success 'deploy to a dir target: release folder, MANIFEST, current link' '
	mlops deploy m1 prod >out &&
	v1=$(sed -n "s/^deployed m1 \([0-9a-f]*\) .*/\1/p" out) && test -n "$v1" &&
	r1=$(readlink releases/prod/current) &&
	case $r1 in releases/m1-$v1-[0-9a-f]*) ;; *) false ;; esac &&
	test "${r1##*-}" = "$(sha256sum releases/prod/current/MANIFEST | cut -c1-12)" &&
	(cd releases/prod/current && sha256sum -c MANIFEST) &&
	grep -q "  model.json$" releases/prod/current/MANIFEST &&
	grep -q "  record.json$" releases/prod/current/MANIFEST &&
	grep -q "\"name\":\"m1\"" releases/prod/current/record.json &&
	cmp m1/model.json releases/prod/current/model.json
'

test_expect_success 'deploying the live version again changes nothing' '
	ls -l --time-style=full-iso releases/prod >before &&
	mlops deploy m1 prod >out && grep -q "already live" out &&
	ls -l --time-style=full-iso releases/prod >after && test_cmp before after &&
	mlops --json deploy history prod >h && test $(grep -c "\"action\"" h) = 1
'

test_expect_success 'a new version switches current; history records the previous one' '
	v1=$(readlink releases/prod/current | sed "s,releases/,,") &&
	v1v=${v1#m1-} && v1v=${v1v%-*} &&
	mlops deploy m2 prod >out && grep -q "was m1 $v1v$" out &&
	v2=$(readlink releases/prod/current | sed "s,releases/,,") && test "$v1" != "$v2" &&
	test -d releases/prod/releases/$v1 &&
	mlops --json deploy history prod >h &&
	grep -q "\"previous\":[[:space:]]*\"$v1v\"" h &&
	grep -q "\"previous_model\":[[:space:]]*\"m1\"" h &&
	grep -q "\"previous_release\":[[:space:]]*\"$v1\"" h &&
	grep -q "\"user\":[[:space:]]*\"A U Thor <author@example.com>\"" h
'

test_expect_success 'rollback returns to the previous version, a second one comes back' '
	v2=$(readlink releases/prod/current | sed "s,releases/,,") &&
	mlops deploy rollback prod >out && grep -q "^rolled back to m1" out &&
	v1=$(readlink releases/prod/current | sed "s,releases/,,") && test "$v1" != "$v2" &&
	grep -q "\"name\":\"m1\"" releases/prod/current/record.json &&
	mlops deploy rollback prod >out && grep -q "^rolled back to m2" out &&
	test "$(readlink releases/prod/current)" = "releases/$v2" &&
	mlops deploy history prod >h && test $(grep -c " rollback " h) = 2
'

test_expect_success 'rollback without an earlier version is refused' '
	cfg deploy.fresh.type dir && cfg deploy.fresh.path releases/fresh &&
	test_expect_code 3 mlops deploy rollback fresh 2>err && grep -q "no earlier version" err &&
	mlops -q deploy m1 fresh &&
	test_expect_code 3 mlops deploy rollback fresh 2>err
'

test_expect_success 'an archive target writes one reproducible .tar.gz and prints its checksum' '
	mlops deploy m1 bundle >out &&
	f=$(sed -n "s/^location: //p" out) && test -f "$f" &&
	sum=$(sed -n "s/^sha256: //p" out) &&
	test "$(sha256sum "$f" | cut -d" " -f1)" = "$sum" &&
	tar tzf "$f" >list && test "$(cat list)" = "$(printf "%s\n" m1-${f##*m1-} | sed "s/.tar.gz//;s,\$,/MANIFEST,")
$(basename "$f" .tar.gz)/model.json
$(basename "$f" .tar.gz)/record.json" &&
	{ tar tzvf "$f" | grep -v "0/0 .*1970-01-01 00:00" >odd; test ! -s odd; } &&
	mkdir x && tar xzf "$f" -C x && (cd x/* && sha256sum -c MANIFEST)
'

test_expect_success 'the same model makes a byte-identical archive again' '
	touch m1/model.json && sleep 1 &&
	mlops -q deploy m1 bundle2 &&
	cmp bundles/*.tar.gz bundles2/*.tar.gz &&
	rm bundles2/*.tar.gz && mlops -q deploy m1 bundle2 &&
	cmp bundles/*.tar.gz bundles2/*.tar.gz
'

test_expect_success 'a command target runs with the model in its environment' '
	mlops deploy m1 ship >out 2>err &&
	grep -q "^args: --fast$" ship.log &&
	grep -q "^ship m1 [0-9a-f]\{12\} .*/.mlops/deploy/ship/releases/m1-[0-9a-f]\{12\}-[0-9a-f]\{12\}$" ship.log
'

test_expect_success 'a failing command fails the deployment and is recorded' '
	touch fail &&
	test_expect_code 125 mlops deploy m2 ship 2>err &&
	grep -q "exited with status 1" err &&
	mlops --json deploy history ship >h &&
	grep -q "\"ok\":[[:space:]]*false" h &&
	mlops --json deploy list >l && grep -A3 "\"name\":[[:space:]]*\"ship\"" l >/dev/null &&
	rm fail
'

test_expect_success 'a stage-restricted target refuses an unpromoted version' '
	test_expect_code 9 mlops deploy m1 gated 2>err &&
	grep -q "takes only versions in stage .production." err &&
	! test -e releases/gated/current &&
	mlops --json deploy history gated >h && grep -q "\"ok\":[[:space:]]*false" h
'

test_expect_success 'list shows targets and what runs where' '
	mlops deploy list >out &&
	grep -q "^prod  *dir  *.*releases/prod" out &&
	grep -q "^gated .*\[stage production\]" out &&
	grep -q "live: m2 [0-9a-f]\{12\}" out &&
	mlops --json deploy list >j && grep -q "\"type\":[[:space:]]*\"archive\"" j
'

test_expect_success 'registered versions deploy by NAME@vX.Y.Z and NAME#stage; the stage gate holds' '
	git add -A >/dev/null 2>&1; git commit -qm fixtures >/dev/null 2>&1
	test_expect_code 3 mlops deploy nomodel@v1.2.0 prod 2>err &&
	mlops -q register gm m1/model.json &&
	test_expect_code 9 mlops deploy gm@v0.0.1 gated 2>err &&
	grep -q "gm@v0.0.1 does not hold it" err &&
	cfg registry.stages "dev staging production" &&
	mlops -q register promote gm@v0.0.1 production &&
	mlops deploy "gm#production" gated >out &&
	grep -q "deployed gm v0.0.1" out &&
	test -f releases/gated/current/model.json &&
	cmp releases/gated/current/model.json m1/model.json &&
	mlops -q register gm m2/model.json &&
	test_expect_code 9 mlops deploy gm@v0.0.2 gated 2>err &&
	grep -q "v0.0.1 does)" err &&
	test_expect_code 2 mlops deploy "bad name!" prod 2>err
'

test_expect_success 'rollback returns only to a version the target takes: in its stage, not deprecated' '
	mlops -q register promote gm@v0.0.2 production &&
	mlops -q deploy "gm#production" gated &&
	grep -q "\"version\":\"v0.0.2\"" releases/gated/current/record.json &&
	test_expect_code 9 mlops deploy rollback gated 2>err &&
	grep -q "^mlops: target .gated. takes only versions in stage .production.: gm@v0.0.1, which it would return to, does not hold it (v0.0.2 does); promote that version to return to it$" err &&
	grep -q "\"version\":\"v0.0.2\"" releases/gated/current/record.json &&
	mlops --json deploy history gated >h && tr -d " \n\t" <h >r &&
	grep -q "\"action\":\"rollback\",\"model\":\"gm\",\"version\":\"v0.0.1\",.*\"ok\":false,\"error\":\"target.gated.takesonly" r &&
	mlops -q register promote gm@v0.0.1 production &&
	mlops deploy rollback gated >out && grep -q "^rolled back to gm v0.0.1 " out &&
	cmp releases/gated/current/model.json m1/model.json &&
	cfg deploy.back.type archive && cfg deploy.back.path bundles-back &&
	mlops -q deploy gm@v0.0.2 back && mlops -q deploy gm@v0.0.1 back &&
	mlops -q register deprecate gm@v0.0.2 &&
	test_expect_code 9 mlops deploy rollback back 2>err &&
	grep -q "^mlops: gm@v0.0.2 is deprecated: target .back. does not return to it$" err &&
	mlops deploy list >l && grep -A1 "^back " l >r && grep -q "live: gm v0.0.1 since" r
'

test_expect_success 'unknown and broken targets are clear errors' '
	test_expect_code 3 mlops deploy m1 nowhere 2>err && grep -q "no deploy target .nowhere." err &&
	cfg deploy.odd.type ftp && cfg deploy.odd.path x &&
	test_expect_code 4 mlops deploy m1 odd 2>err && grep -q "unknown type .ftp." err &&
	cfg deploy.nopath.type dir &&
	test_expect_code 4 mlops deploy m1 nopath 2>err && grep -q "needs deploy.nopath.path" err &&
	test_expect_code 2 mlops deploy m1 2>err &&
	test_expect_code 8 sh -c "cd / && \"$MLOPS_BIN\" deploy list" 2>err
'

test_expect_success 'deploy list shows every target when one is misconfigured, and exits 4' '
	test_expect_code 4 mlops deploy list >out 2>err &&
	grep -q "^prod  *dir " out && grep -q "^ship  *command " out &&
	grep -q "^nopath  *? .*needs deploy.nopath.path" out &&
	grep -q "^odd  *? .*unknown type .ftp." out &&
	grep -q "^mlops: deploy target .nopath. needs deploy.nopath.path" err &&
	test_expect_code 4 mlops --json deploy list >j 2>err &&
	tr -d " \n\t" <j >r &&
	grep -q "{\"name\":\"nopath\",\"type\":null,.*\"problem\":\"deploytarget.nopath.needsdeploy.nopath.path\"}" r &&
	grep -q "\"name\":\"prod\",\"type\":\"dir\",.*\"problem\":null" r &&
	mlops __complete values deploy history >c && grep -qx nopath c && grep -qx prod c
'

test_expect_success 'a model folder with a link inside is refused' '
	mkdir -p m3 && cp "$FIX/mixed.json" m3/model.json && ln -s /etc/passwd m3/pw &&
	test_expect_code 4 mlops deploy m3 prod 2>err && grep -q "not a regular file" err
'

test_expect_success 'a registered version that cannot be opened is recorded with its model and version' '
	mkdir -p lk && cp "$FIX/mixed.json" lk/model.json && ln -s model.json lk/alias.json &&
	mlops -q register lk lk && rm -r lk &&
	test_expect_code 4 mlops deploy lk@v0.0.1 prod 2>err && grep -q "not a regular file" err &&
	mlops --json deploy history prod >h && tr -d " \n\t" <h >r &&
	grep -q "\"model\":\"lk\",\"version\":\"v0.0.1\",\"source\":\"lk@v0.0.1\"" r &&
	mlops deploy history prod >h && grep -q "deploy   failed lk v0.0.1 " h &&
	test_expect_code 3 mlops deploy lk@v9.9.9 prod 2>err &&
	mlops --json deploy history prod >h && tr -d " \n\t" <h >r &&
	grep -q "\"model\":null,\"version\":null,\"source\":\"lk@v9.9.9\"" r &&
	test_expect_code 3 mlops deploy no/such/folder prod 2>err &&
	mlops --json deploy history prod >h && tr -d " \n\t" <h >r &&
	grep -q "\"model\":null,\"version\":null,\"source\":\"no/such/folder\"" r
'

test_expect_success 'two models of one version get release folders of their own' '
	cfg deploy.two.type dir && cfg deploy.two.path releases/two &&
	cfg deploy.ship2.type command && cfg deploy.ship2.command "sh ship2.sh" &&
	printf "%s\n" "cp \"\$MLOPS_MODEL_DIR/record.json\" \"ship2-\$MLOPS_MODEL_NAME.json\"" >ship2.sh &&
	mkdir -p ra rb && cp "$FIX/mixed.json" ra/model.json && cp "$FIX/wine.json" rb/model.json &&
	echo "{\"name\": \"churn\", \"version\": \"0.0.1\"}" >ra/record.json &&
	echo "{\"name\": \"other\", \"version\": \"0.0.1\"}" >rb/record.json &&
	mlops -q deploy ra two && mlops deploy rb two >out &&
	grep -q "^deployed other 0.0.1 .two. (dir), was churn 0.0.1$" out &&
	grep -q "\"name\":\"other\"" releases/two/current/record.json &&
	cmp rb/model.json releases/two/current/model.json &&
	test $(ls releases/two/releases | wc -l) = 2 &&
	mlops -q deploy ra ship2 && mlops -q deploy rb ship2 &&
	grep -q "\"name\":\"churn\"" ship2-churn.json &&
	grep -q "\"name\":\"other\"" ship2-other.json &&
	mlops deploy rollback two >out && grep -q "^rolled back to churn 0.0.1" out &&
	cmp ra/model.json releases/two/current/model.json
'

test_expect_success 'a damaged release is rebuilt, not reused; rollback refuses one' '
	echo "{}" >releases/two/current/model.json &&
	mlops deploy ra two >out && grep -q "^deployed churn 0.0.1" out &&
	cmp ra/model.json releases/two/current/model.json &&
	(cd releases/two/current && sha256sum -c MANIFEST) &&
	rm releases/two/current/MANIFEST &&
	mlops -q deploy ra two && test -f releases/two/current/MANIFEST &&
	rm releases/two/releases/other-*/MANIFEST &&
	test_expect_code 7 mlops deploy rollback two 2>err &&
	grep -q "has no readable MANIFEST" err &&
	mlops -q deploy rb two && test -f releases/two/current/MANIFEST &&
	cmp rb/model.json releases/two/current/model.json &&
	for d in releases/two/releases/churn-*; do echo extra >"$d/extra"; done &&
	test_expect_code 7 mlops deploy rollback two 2>err &&
	grep -q "holds .extra., a file its MANIFEST does not list" err
'

test_expect_success 'a release with a file added, hidden or not, or a changed executable bit is damaged' '
	cfg deploy.strict.type dir && cfg deploy.strict.path releases/strict &&
	mkdir -p mx && cp "$FIX/mixed.json" mx/model.json &&
	printf "#!/bin/sh\n" >mx/run.sh && chmod +x mx/run.sh &&
	echo "{\"name\": \"mx\", \"version\": \"1.0.0\"}" >mx/record.json &&
	mlops -q deploy m1 strict && mlops -q deploy mx strict &&
	tr -d " \n" <releases/strict/current/record.json | grep -q "\"executable\":\[\"run.sh\"\]" &&
	! grep -q executable releases/strict/releases/m1-*/record.json &&
	(cd releases/strict/current && sha256sum -c MANIFEST) &&
	test -x releases/strict/current/run.sh &&
	r1=$(echo releases/strict/releases/m1-*) && echo x >"$r1/.hidden" &&
	test_expect_code 7 mlops deploy rollback strict 2>err &&
	grep -q "holds .\.hidden., a file its MANIFEST does not list" err &&
	rm "$r1/.hidden" && chmod +x "$r1/model.json" &&
	test_expect_code 7 mlops deploy rollback strict 2>err &&
	grep -q "^mlops: release .*: .model.json. has an executable bit, unlike the model.s file$" err &&
	chmod -x "$r1/model.json" &&
	mlops deploy rollback strict >out && grep -q "^rolled back to m1" out &&
	chmod -x releases/strict/releases/mx-*/run.sh &&
	test_expect_code 7 mlops deploy rollback strict 2>err &&
	grep -q ".run.sh. lost its executable bit" err &&
	chmod +x releases/strict/releases/mx-*/run.sh &&
	mlops deploy rollback strict >out && grep -q "^rolled back to mx 1.0.0" out &&
	mkdir releases/strict/current/__pycache__ && echo x >releases/strict/current/__pycache__/m.pyc &&
	mlops --json deploy mx strict >j && tr -d " \t\n" <j | grep -q "\"unchanged\":true" &&
	echo x >releases/strict/current/.hidden &&
	mlops --json deploy mx strict >j && tr -d " \t\n" <j | grep -q "\"unchanged\":false" &&
	test ! -e releases/strict/current/.hidden && test -x releases/strict/current/run.sh
'

test_expect_success 'without RENAME_EXCHANGE a failed swap puts the damaged release back' '
	cfg deploy.swap.type dir && cfg deploy.swap.path releases/swap &&
	mlops -q deploy m1 swap && echo "{}" >releases/swap/current/model.json &&
	test_must_fail env MLOPS_TEST_NO_RENAME_EXCHANGE=fail "$MLOPS_BIN" deploy m1 swap 2>err &&
	grep -q "^mlops: unable to rename .*\.new-[0-9]*. to " err &&
	test "$(cat releases/swap/current/model.json)" = "{}" &&
	test $(ls releases/swap/releases | wc -l) = 1 &&
	MLOPS_TEST_NO_RENAME_EXCHANGE=1 mlops -q deploy m1 swap &&
	cmp m1/model.json releases/swap/current/model.json &&
	test $(ls releases/swap/releases | wc -l) = 1
'

test_expect_success 'a target deployed in the old layout (releases/VERSION) rolls back' '
	cfg deploy.old.type dir && cfg deploy.old.path releases/old &&
	mkdir -p releases/old/releases .mlops/deploy/old &&
	cp -r releases/two/releases/other-* releases/old/releases/0.0.1 &&
	rm releases/old/releases/0.0.1/extra 2>/dev/null;
	ln -s releases/0.0.1 releases/old/current &&
	echo "{\"time\":1,\"target\":\"old\",\"type\":\"dir\",\"action\":\"deploy\",\"model\":\"other\",\"version\":\"0.0.1\",\"ok\":true}" >.mlops/deploy/old/history &&
	mlops -q deploy ra old &&
	mlops deploy rollback old >out && grep -q "^rolled back to other 0.0.1" out &&
	case $(readlink releases/old/current) in releases/other-0.0.1-*) ;; *) false ;; esac &&
	cmp rb/model.json releases/old/current/model.json
'

test_expect_success 'failures before the target is touched and lock refusals are recorded' '
	cfg deploy.rec.type dir && cfg deploy.rec.path releases/rec &&
	mkdir -p junk && echo x >junk/x &&
	test_expect_code 4 mlops deploy junk rec 2>err &&
	test_expect_code 3 mlops deploy nomodel@v1.0.0 rec 2>err &&
	mlops -q deploy m1 rec &&
	if test_have_cmd flock; then
		flock .mlops/deploy/rec/lock sh -c "\"$MLOPS_BIN\" deploy m2 rec 2>err; echo \$? >rc" &&
		test "$(cat rc)" = 5 && grep -q "another deployment to .rec. is running" err
	else
		echo "another deployment to" >fake
	fi &&
	mlops --json deploy history rec >h && tr -d " \t\n" <h >r &&
	grep -q "\"source\":\"junk\",\"previous\":null.*\"ok\":false,\"error\":\"[^\"]*holdsneithermodel.json" r &&
	grep -q "\"source\":\"nomodel@v1.0.0\".*\"ok\":false" r &&
	{ ! test_have_cmd flock || grep -q "\"model\":\"m2\".*\"previous_model\":\"m1\".*\"ok\":false,\"error\":\"anotherdeploymentto" r; } &&
	mlops deploy history rec >out && grep -q "failed - -" out
'

test_expect_success 'a rollback refused for a held lock is recorded' '
	if test_have_cmd flock; then
		mlops -q deploy m2 rec &&
		flock .mlops/deploy/rec/lock sh -c "\"$MLOPS_BIN\" deploy rollback rec 2>err; echo \$? >rc" &&
		test "$(cat rc)" = 5 && grep -q "another deployment to .rec. is running" err &&
		mlops --json deploy history rec >h && tr -d " \t\n" <h >r &&
		grep -q "\"action\":\"rollback\",\"model\":null.*\"previous_model\":\"m2\".*\"ok\":false,\"error\":\"anotherdeploymentto" r &&
		mlops deploy rollback rec >out && grep -q "^rolled back to m1" out
	fi
'

test_expect_success 'a rollback refused for no earlier version, or a release gone or damaged, is recorded' '
	cfg deploy.rr.type dir && cfg deploy.rr.path releases/rr &&
	test_expect_code 3 mlops deploy rollback rr 2>err && grep -q "no earlier version" err &&
	mlops --json deploy history rr >h && tr -d " \t\n" <h >r &&
	grep -q "^\[{.*\"action\":\"rollback\",\"model\":null,\"version\":null,.*\"ok\":false,\"error\":\"target.rr.hasnoearlierversion" r &&
	mlops -q deploy m1 rr && mlops -q deploy m2 rr &&
	r1=$(echo releases/rr/releases/m1-*) && echo "{}" >"$r1/model.json" &&
	test_expect_code 7 mlops deploy rollback rr 2>err && grep -q "does not match its MANIFEST" err &&
	mv "$r1" releases/rr/gone &&
	test_expect_code 3 mlops deploy rollback rr 2>err && grep -q "is gone from" err &&
	mlops --json deploy history rr >h && tr -d " \t\n" <h >r &&
	test $(grep -o "\"action\":\"rollback\"" r | wc -l) = 3 &&
	grep -q "\"action\":\"rollback\",\"model\":\"m1\",.*\"previous_model\":\"m2\",.*\"ok\":false,\"error\":\"release[^\"]*model.json.doesnotmatchitsMANIFEST\"" r &&
	grep -q "\"action\":\"rollback\",\"model\":\"m1\",.*\"previous_model\":\"m2\",.*\"ok\":false,\"error\":\"thereleaseofm1[^\"]*isgonefrom" r &&
	mlops deploy history rr >out &&
	test $(grep -c "rollback failed" out) = 3 &&
	grep -q "rollback failed m1 .*(was m2 " out &&
	grep -q "^    release .*model.json. does not match its MANIFEST$" out &&
	grep -q "^    the release of m1 .* is gone from " out &&
	mv releases/rr/gone "$r1" && cp m1/model.json "$r1/model.json" &&
	mlops deploy rollback rr >out && grep -q "^rolled back to m1" out
'

test_expect_success 'a release recorded without its executable files is checked against the registered model' '
	cfg deploy.up.type dir && cfg deploy.up.path releases/up &&
	mkdir -p gx && cp "$FIX/mixed.json" gx/model.json && seq 1 600000 >gx/big.txt &&
	printf "#!/bin/sh\n" >gx/run.sh && chmod +x gx/run.sh &&
	mlops -q register gx gx &&
	mlops -q deploy gx@v0.0.1 up && mlops -q deploy m1 up &&
	strip_exec_list releases/up/releases/gx-* up &&
	old=$(echo releases/up/releases/gx-*) && ! grep -q executable "$old/record.json" &&
	chmod -x "$old/run.sh" &&
	test_expect_code 7 mlops deploy rollback up 2>err &&
	grep -q "^mlops: release .*: .run.sh. lost its executable bit, unlike the model.s file$" err &&
	chmod +x "$old/run.sh" "$old/big.txt" &&
	test_expect_code 7 mlops deploy rollback up 2>err &&
	grep -q ".big.txt. has an executable bit" err &&
	chmod -x "$old/big.txt" &&
	mlops deploy rollback up >out && grep -q "^rolled back to gx v0.0.1" out &&
	test -x releases/up/current/run.sh && test ! -x releases/up/current/big.txt &&
	tr -d " \n" <releases/up/current/record.json | grep -q "\"executable\":\[\"run.sh\"\]" &&
	(cd releases/up/current && sha256sum -c MANIFEST >/dev/null)
'

test_expect_success 'such a release of a model folder is checked against the folder, if it is still there' '
	cfg deploy.up2.type dir && cfg deploy.up2.path releases/up2 &&
	cp -r mx mxc && mlops -q deploy mxc up2 && mlops -q deploy m1 up2 &&
	strip_exec_list releases/up2/releases/mx-* up2 &&
	old=$(echo releases/up2/releases/mx-*) && chmod -x "$old/run.sh" &&
	test_expect_code 7 mlops deploy rollback up2 2>err &&
	grep -q ".run.sh. lost its executable bit" err &&
	chmod +x "$old/run.sh" "$old/model.json" &&
	test_expect_code 7 mlops deploy rollback up2 2>err &&
	grep -q ".model.json. has an executable bit" err &&
	chmod -x "$old/model.json" && rm -r mxc &&
	mlops deploy rollback up2 >out && grep -q "^rolled back to mx 1.0.0" out &&
	test -x releases/up2/current/run.sh && test ! -x releases/up2/current/model.json
'

test_expect_success 'history of an unknown target is not found (exit 3), of an unused one empty' '
	test_expect_code 3 mlops deploy history nosuch 2>err && grep -q "no deploy target .nosuch." err &&
	cfg deploy.unused.type dir && cfg deploy.unused.path releases/unused &&
	mlops deploy history unused >out && grep -q "no deployments to .unused." out &&
	mlops --json deploy history unused >j && test "$(tr -d " \n" <j)" = "[]"
'

test_done
