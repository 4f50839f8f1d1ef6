#!/bin/sh
# mlops register: versions and stages as git tags in GTO's grammar, records,
# gates, history, --at, lineage, impact, clones, and thousands of tags.
. "$(dirname "$0")/lib.sh"

mlops -q init
printf '%s\n' /out /err /j /r /tags /dot /c.json /list /hist /t /ids >>.git/info/exclude
git add -A && git commit -q -m init

# One JSON string field of a cJSON-printed document (first occurrence).
json_field() { sed -n "s/.*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1; }

# GTO's grammar, from iterative/gto gto/constants.py (name, semver, tag_re),
# and the same expression in POSIX ERE for machines without Python.
cat >gto_re.py <<'EOF'
import re, sys
name = "[a-z][a-z0-9-/]*[a-z0-9]"
semver = r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
counter = "?P<counter>[0-9]+"
tag_re = re.compile(
    f"^(?P<artifact>{name})(((#(?P<stage>{name})|@(?P<version>v{semver}))(?P<cancel>!?))|@((?P<deprecated>deprecated)|(?P<created>created)))(#({counter}))?$"
)
for line in sys.stdin:
    t = line.strip()
    m = tag_re.search(t)
    if not m:
        print("NOMATCH", t)
        continue
    print(t, m["artifact"], m["version"] or "-", m["stage"] or "-", m["cancel"] or "-",
          "deprecated" if m["deprecated"] else "-", m["counter"] or "-")
EOF
ERE_NAME='[a-z][a-z0-9/-]*[a-z0-9]'
ERE_ID='(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)'
ERE_SEMVER="(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-$ERE_ID(\.$ERE_ID)*)?(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?"
ERE_TAG="^($ERE_NAME)(((#($ERE_NAME)|@(v$ERE_SEMVER))(!?))|@((deprecated)|(created)))(#([0-9]+))?\$"
have_python() { /usr/bin/python3 -c 'import re' 2>/dev/null; }

test_expect_success 'register a file: the first version is v0.0.1, an annotated tag on HEAD' '
	echo "weights 1" >model.bin &&
	mlops register churn model.bin -m "first" >out &&
	grep -q "^churn@v0.0.1 registered: tag churn@v0.0.1 on $(git rev-parse --short=12 HEAD)" out &&
	test "$(git cat-file -t churn@v0.0.1)" = tag &&
	test "$(git rev-parse churn@v0.0.1^{commit})" = "$(git rev-parse HEAD)" &&
	git cat-file -p churn@v0.0.1 >t &&
	grep -q "^tagger C O Mitter <committer@example.com> " t &&
	grep -q "^Registering artifact churn version v0.0.1$" t &&
	grep -q "^first$" t &&
	grep -q "^version: v0.0.1$" t &&
	grep -q "^artifact: sha256:$(sha256sum model.bin | cut -c1-64)$" t &&
	grep -q "^record: [0-9a-f]\{64\}$" t &&
	rec=$(sed -n "s/^record: //p" t) &&
	test "$(cat .mlops/refs/models/churn/v0.0.1)" = "$rec"
'

test_expect_success 'semantic version bumps: patch by default, minor, major, explicit' '
	echo 2 >m2 && mlops -q register churn m2 &&
	echo 3 >m3 && mlops -q register churn m3 --bump minor &&
	echo 4 >m4 && mlops -q register churn m4 --bump major &&
	echo 5 >m5 && mlops -q register churn m5 --version v2.3.4 &&
	echo 6 >m6 && mlops -q register churn m6 --bump patch &&
	echo 7 >m7 && mlops -q register churn m7 --version v1.5.0 &&
	git tag -l "churn@*" >tags &&
	printf "%s\n" churn@v0.0.1 churn@v0.0.2 churn@v0.1.0 churn@v1.0.0 churn@v1.5.0 \
		churn@v2.3.4 churn@v2.3.5 >expect && test_cmp expect tags &&
	mlops register show churn >out && grep -q "^model churn@v2.3.5$" out
'

test_expect_success 'versions, bumps and names that are refused' '
	echo 8 >m8 &&
	test_expect_code 9 mlops register churn m8 --version v2.3.4 2>err &&
	grep -q "already registered" err &&
	test_expect_code 2 mlops register churn m8 --version 2.3.4 &&
	test_expect_code 2 mlops register churn m8 --bump huge &&
	test_expect_code 2 mlops register churn m8 --bump minor --version v9.0.0 &&
	test_expect_code 2 mlops register Churn m8 2>err && grep -q "GTO" err &&
	test_expect_code 2 mlops register churn_x m8 &&
	test_expect_code 2 mlops register churn &&
	test_expect_code 3 mlops register churn no-such-file &&
	test_expect_code 2 mlops register churn m8 --run r-abcd &&
	git tag -l "churn@*" | wc -l >n && test $(cat n) = 7
'

test_expect_success 'an artifact equal to an existing version is refused, naming it' '
	cp model.bin again.bin &&
	test_expect_code 9 mlops register churn again.bin 2>err &&
	grep -q "already registered as churn@v0.0.1" err &&
	! git rev-parse -q --verify churn@v2.3.6 &&
	! test -e .mlops/refs/models/churn/v2.3.6 &&
	mlops register churn again.bin --allow-same >out &&
	grep -q "^churn@v2.3.6 registered" out
'

test_expect_success 'several versions on one commit, and a directory artifact' '
	mkdir -p mdir/sub && echo a >mdir/a && echo b >mdir/sub/b &&
	mlops -q register other mdir 2>err && ! grep -q warning err &&
	echo c >mdir/c && mlops -q register other mdir 2>err &&
	grep -q "^mlops: warning: other@v0.0.1 is on commit [0-9a-f]\{12\} too: GTO cannot tell" err &&
	grep -q "commit between registrations" err &&
	test "$(git rev-parse other@v0.0.1^{commit})" = "$(git rev-parse other@v0.0.2^{commit})" &&
	mlops --json register show other@v0.0.2 >j &&
	grep -q "\"kind\":[[:space:]]*\"tree\"" j && grep -q "\"files\":[[:space:]]*3" j &&
	git config -f .mlops/config registry.oneVersionPerCommit true &&
	echo e >mdir/e && test_expect_code 9 mlops register other mdir 2>err &&
	grep -q "registry.oneVersionPerCommit" err && ! git rev-parse -q --verify other@v0.0.3 &&
	git config -f .mlops/config --unset registry.oneVersionPerCommit && rm mdir/e
'

test_expect_success 'stage counters grow across stages as GTO counts them' '
	mlops register promote churn@v0.0.1 dev >out &&
	grep -q "churn@v0.0.1 is now dev (tag churn#dev#1)" out &&
	mlops -q register promote churn@v0.0.2 staging &&
	mlops -q register promote churn@v0.0.1 prod &&
	mlops -q register promote churn@v0.1.0 prod &&
	mlops -q register promote other@v0.0.1 prod &&
	git tag -l "churn#*" >tags &&
	printf "%s\n" "churn#dev#1" "churn#prod#3" "churn#prod#4" "churn#staging#2" >expect &&
	test_cmp expect tags &&
	test "$(git tag -l "other#*")" = "other#prod#1" &&
	mlops register promote churn@v0.1.0 prod >out && grep -q "already holds prod" out &&
	test $(git tag -l "churn#prod*" | wc -l) = 2
'

test_expect_success 'unknown stages are refused; [registry] stages sets them' '
	test_expect_code 2 mlops register promote churn@v0.0.1 canary 2>err &&
	grep -q "dev, staging, prod" err &&
	git config -f .mlops/config registry.stages "dev canary prod" &&
	mlops -q register promote churn@v0.0.2 canary &&
	git config -f .mlops/config --unset registry.stages
'

test_expect_success 'NAME#prod follows promotions and demotions' '
	mlops register show churn#prod >out && grep -q "^model churn@v0.1.0$" out &&
	mlops register demote churn prod >out &&
	grep -q "churn@v0.1.0 no longer holds prod (tag churn#prod!#6); prod is now held by churn@v0.0.1" out &&
	mlops register show churn#prod >out && grep -q "^model churn@v0.0.1$" out &&
	mlops -q register demote churn prod &&
	test_expect_code 3 mlops register show churn#prod 2>err &&
	grep -q "no version of .churn. holds stage .prod." err &&
	test_expect_code 3 mlops register demote churn prod &&
	test_expect_code 2 mlops register demote churn qa 2>err &&
	grep -q ".qa. is not a stage" err &&
	mlops -q register promote churn@v1.0.0 prod &&
	mlops register show churn#prod >out && grep -q "^model churn@v1.0.0$" out &&
	mlops --json register list >j && grep -q "\"prod\":[[:space:]]*\"v1.0.0\"" j
'

test_expect_success 'every tag matches GTO'"'"'s tag_re and parses to the right action' '
	git tag -l >tags &&
	test $(wc -l <tags) = 19 &&
	! grep -E -v "$ERE_TAG" tags &&
	if have_python; then
		/usr/bin/python3 gto_re.py <tags >parsed &&
		! grep -q NOMATCH parsed &&
		grep -qx "churn@v0.0.1 churn v0.0.1 - - - -" parsed &&
		grep -qx "churn#prod#3 churn - prod - - 3" parsed &&
		grep -qx "churn#prod!#6 churn - prod ! - 6" parsed
	fi
'

test_expect_success 'deprecate a version (GTO deregistration) and a whole model' '
	mlops register deprecate churn@v2.3.6 >out &&
	grep -q "tag churn@v2.3.6!#9" out &&
	git rev-parse -q --verify "churn@v2.3.6!#9" >/dev/null &&
	mlops register show churn >out && grep -q "^model churn@v2.3.5$" out &&
	test_expect_code 9 mlops register deprecate churn@v2.3.6 &&
	test_expect_code 9 mlops register promote churn@v2.3.6 dev &&
	mlops -q register deprecate other &&
	git rev-parse -q --verify "other@deprecated#2" >/dev/null &&
	mlops --json register list >j && tr -d " \t\n" <j >r &&
	grep -q "\"name\":\"other\",\"latest\":null,\"deprecated\":true,\"stages\":{}" r &&
	! git tag -l | grep -E -v "$ERE_TAG"
'

test_expect_success 'a deprecated model: no latest, no stages, no promotion, no deployment' '
	mlops --json register show other@v0.0.1 >j && tr -d " \t\n" <j >r &&
	grep -q "\"deprecated\":true,\"stages\":\[\]" r &&
	mlops --json register lineage other@v0.0.2 >j && tr -d " \t\n" <j >r &&
	grep -q "\"deprecated\":true" r &&
	mlops register show other@v0.0.1 >out && grep -q "^model other@v0.0.1 (deprecated)$" out &&
	test_expect_code 3 mlops register show other 2>err &&
	grep -q "model .other. is deprecated" err &&
	test_expect_code 3 mlops register show "other#prod" 2>err &&
	grep -q "model .other. is deprecated" err &&
	test_expect_code 9 mlops register promote other@v0.0.2 dev 2>err &&
	grep -q "the whole model is" err &&
	echo d >mdir/d && test_expect_code 9 mlops register other mdir 2>err &&
	grep -q "model .other. is deprecated (tag other@deprecated#2)" err &&
	git config -f .mlops/config deploy.dep.type dir &&
	git config -f .mlops/config deploy.dep.path dep &&
	cp "$TEST_ROOT/tests/fixtures/serve/mixed.json" dm1.json &&
	cp "$TEST_ROOT/tests/fixtures/serve/wine.json" dm2.json &&
	mlops -q register dm dm1.json && mlops -q register dm dm2.json &&
	mlops -q register deprecate dm@v0.0.1 &&
	test_expect_code 9 mlops deploy dm@v0.0.1 dep 2>err &&
	grep -q "dm@v0.0.1 is deprecated: it is not deployed" err &&
	mlops -q deploy dm@v0.0.2 dep && mlops -q register deprecate dm &&
	test_expect_code 9 mlops deploy dm@v0.0.2 dep 2>err &&
	grep -q "dm@v0.0.2 is deprecated (the whole model is)" err &&
	test_expect_code 3 mlops deploy dm dep 2>err &&
	mlops --json deploy history dep >h && test $(grep -c "\"ok\":[[:space:]]*false" h) = 3 &&
	rm -r .mlops/deploy dep && git config -f .mlops/config --remove-section deploy.dep &&
	mlops register history other >hist && grep -q " deprecate  (model) " hist
'

test_expect_success 'history: every registration and stage change, who and when' '
	mlops register history churn >hist &&
	test $(grep -c " register " hist) = 8 &&
	test $(grep -c " assign " hist) = 6 &&
	test $(grep -c " unassign " hist) = 2 &&
	test $(grep -c " deregister " hist) = 1 &&
	grep -q "by C O Mitter <committer@example.com>  (churn#prod!#6)" hist &&
	mlops --json register history churn >j &&
	test $(grep -c "\"action\":" j) = 17 &&
	test_expect_code 3 mlops register history nothing-here
'

# Tags at chosen moments: git and mlops honour GIT_COMMITTER_DATE.
test_expect_success '--at: which version held a stage at a past moment' '
	echo t1 >a1 && echo t2 >a2 &&
	GIT_COMMITTER_DATE="@1700000000 +0000" mlops -q register timed a1 &&
	GIT_COMMITTER_DATE="@1700000100 +0000" mlops -q register timed a2 &&
	GIT_COMMITTER_DATE="@1700000200 +0000" mlops -q register promote timed@v0.0.1 prod &&
	GIT_COMMITTER_DATE="@1700000300 +0000" mlops -q register promote timed@v0.0.2 prod &&
	GIT_COMMITTER_DATE="@1700000400 +0000" mlops -q register demote timed prod &&
	GIT_COMMITTER_DATE="@1700000500 +0000" mlops -q register demote timed prod &&
	test_expect_code 3 mlops register show timed#prod --at @1700000199 &&
	mlops register show timed#prod --at @1700000200 >out && grep -q "^model timed@v0.0.1$" out &&
	mlops register show timed#prod --at 2023-11-14T22:18:20Z >out && grep -q "^model timed@v0.0.2$" out &&
	mlops register show timed#prod --at 2023-11-14T23:19:59+01:00 >out && grep -q "^model timed@v0.0.2$" out &&
	mlops register show timed#prod --at @1700000400 >out && grep -q "^model timed@v0.0.1$" out &&
	test_expect_code 3 mlops register show timed#prod --at @1700000500 &&
	test_expect_code 3 mlops register show timed#prod &&
	mlops register show timed --at @1700000050 >out && grep -q "^model timed@v0.0.1$" out &&
	test_expect_code 3 mlops register show timed#prod --at @1699999999 2>err &&
	grep -q "^mlops: model .timed. was not registered yet at 2023-11-14 22:13:19 UTC$" err &&
	mlops register history timed >hist && test $(wc -l <hist) = 6 &&
	test $(awk "{ print index(\$0, \" by \") }" hist | sort -u | wc -l) = 1 &&
	mlops register list --at 2023-11-14 >list && ! grep -q timed list &&
	mlops register list --at @1700000250 >list && grep -q "^timed  *v0.0.2  *prod=v0.0.1" list &&
	test_expect_code 2 mlops register list --at yesterday
'

test_expect_success 'a tag made by git (as GTO makes them) is read: stage by commit' '
	echo g >g.bin && mlops -q register gto-made g.bin &&
	git tag -a "gto-made#staging#1" -m "Assigning stage staging to artifact gto-made version v0.0.1" \
		gto-made@v0.0.1^{commit} &&
	mlops register show gto-made#staging >out && grep -q "^model gto-made@v0.0.1$" out &&
	git tag "gto-made#prod#7" HEAD &&
	test_expect_code 3 mlops register show gto-made#prod &&
	mlops -q register promote gto-made@v0.0.1 prod &&
	git rev-parse -q --verify "gto-made#prod#8" >/dev/null
'

# Training runs with metrics, for gates and lineage.
cat >train.sh <<'EOF'
#!/bin/sh
cat "$MLOPS_INPUT_CHURN_DATA"/* >"$MLOPS_OUTPUT/model.txt"
echo "$1" >>"$MLOPS_OUTPUT/model.txt"
printf '{"auc": %s, "valid": {"loss": 0.25}}' "$1" >"$MLOPS_METRICS"
EOF
chmod +x train.sh

test_expect_success 'register a run: artifact, inputs and metrics from the run' '
	mkdir -p cd && printf "a,b\n1,2\n" >cd/t.csv &&
	mlops -q dataset add cd --name churn-data &&
	git add -A && git commit -q -m "data and code" &&
	mlops --json train -n fit -d churn-data -- ./train.sh 0.85 >j &&
	run=$(json_field run <j) && test -n "$run" &&
	mlops --json register scored --run "$run" -m "low" >j &&
	grep -q "\"version\":[[:space:]]*\"v0.0.1\"" j &&
	grep -q "\"baseline\":[[:space:]]*null" j &&
	test "$(json_field commit <j)" = "$(git rev-parse HEAD)" &&
	mlops --json register show scored >j && tr -d " \t\n" <j >r &&
	grep -q "\"metrics\":{\"auc\":0.85,\"valid\":{\"loss\":0.25}}" r &&
	grep -q "\"run\":\"[0-9a-f]\{64\}\"" r &&
	test_expect_code 9 mlops register scored --run "$run" 2>err &&
	grep -q "already registered as scored@v0.0.1" err
'

test_expect_success 'a gate refuses a promotion with the failing figure (exit 9)' '
	git config -f .mlops/config --add stage.prod.require "auc >= 0.9" &&
	git config -f .mlops/config --add stage.prod.require "valid.loss < 0.3" &&
	test_expect_code 9 mlops register promote scored@v0.0.1 prod 2>err &&
	grep -q "refused: auc = 0.85, the gate requires auc >= 0.9" err &&
	! git tag -l "scored#prod*" | grep -q . &&
	mlops -q register promote scored@v0.0.1 staging &&
	run=$(mlops --json train -n fit -d churn-data -- ./train.sh 0.95 | json_field run) &&
	mlops -q register scored --run "$run" &&
	mlops register promote scored@v0.0.2 prod >out && grep -q "is now prod" out &&
	git config -f .mlops/config --add stage.prod.require "recall > 0.5" &&
	test_expect_code 9 mlops register promote scored@v0.0.1 prod 2>err &&
	git config -f .mlops/config --add stage.dev.require "auc >>= 1" &&
	test_expect_code 4 mlops register promote scored@v0.0.2 dev &&
	git config -f .mlops/config --unset-all stage.dev.require &&
	git config -f .mlops/config --add stage.dev.require "auc >= nan" &&
	test_expect_code 4 mlops register promote scored@v0.0.2 dev 2>err &&
	grep -q "auc >= nan" err &&
	git config -f .mlops/config --replace-all stage.dev.require "auc < -inf" &&
	test_expect_code 4 mlops register promote scored@v0.0.2 dev 2>err &&
	git config -f .mlops/config --remove-section stage.prod &&
	git config -f .mlops/config --remove-section stage.dev
'

test_expect_success 'lineage: the run'"'"'s dataset ids, command, params, stages' '
	dsid=$(mlops --json dataset show churn-data | json_field id) &&
	mlops --json register lineage scored@v0.0.2 >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"datasets\":\[{\"name\":\"churn-data\",\"record\":\"$dsid\",\"type\":\"dataset\",\"version\":1}\]" r &&
	grep -q "\"command\":\[\"./train.sh\",\"0.95\"\]" r &&
	grep -q "\"git_commit\":\"$(git rev-parse HEAD)\"" r &&
	grep -q "\"stages\":\[{\"stage\":\"prod\",\"active\":true" r &&
	! grep -q "\"deployments\"" r &&
	mlops register lineage scored#prod >out &&
	grep -q "^dataset churn-data@v1  $(echo $dsid | cut -c1-12)" out &&
	grep -q "stage prod" out &&
	mlops register lineage scored@v0.0.2 --dot >dot &&
	grep -q "^digraph lineage {" dot &&
	grep -q "\"in:$dsid\" -> \"run:" dot &&
	if test_have_cmd dot; then dot -Tsvg dot >/dev/null; fi
'

test_expect_success 'lineage shows deployments recorded by targets'"'"' histories' '
	mkdir -p .mlops/deploy/web &&
	echo "{\"model\":\"scored\",\"version\":\"v0.0.2\",\"target\":\"web\",\"time\":1700000000,\"ok\":true}" \
		>.mlops/deploy/web/history &&
	mlops --json register lineage scored@v0.0.2 >j &&
	grep -q "\"deployments\":" j && grep -q "\"target\":[[:space:]]*\"web\"" j &&
	mlops register lineage scored@v0.0.2 --dot | grep -q "deployed to web" &&
	rm -r .mlops/deploy
'

test_expect_success 'impact: the models trained on a dataset version' '
	mlops register impact churn-data@v1 >out &&
	grep -q "^scored@v0.0.1 " out && grep -q "^scored@v0.0.2 " out &&
	! grep -q churn@ out &&
	mlops --json register impact churn-data@v1 >j && test $(grep -c "\"name\":" j) = 2 &&
	test_expect_code 3 mlops register impact no-data@v1
'

test_expect_success 'a built-in run registers with the training data'"'"'s statistics as baseline' '
	mkdir -p bc && printf "x,y,target\n1,10,0\n2,20,1\n3,30,0\n4,40,1\n5,50,0\n6,60,1\n7,70,0\n8,80,1\n9,90,0\n10,100,1\n" >bc/t.csv &&
	mlops -q dataset add bc --name bc &&
	run=$(mlops --json train --builtin logistic -d bc --target target | json_field run) &&
	mlops --json register bc-model --run "$run" >j &&
	base=$(json_field baseline <j) && test ${#base} = 64 &&
	obj=$(ls .mlops/objects/$(echo $base | cut -c1-2)/$(echo $base | cut -c3-64)*) &&
	case $obj in *.zst) zstd -dcq "$obj" ;; *.zz) /usr/bin/python3 -c "import sys,zlib;sys.stdout.write(zlib.decompress(open(sys.argv[1],\"rb\").read()).decode())" "$obj" ;; *) cat "$obj" ;; esac >r &&
	grep -q "\"type\":\"baseline\"" r &&
	grep -q "\"rows\":10" r &&
	grep -q "\"name\":\"x\",\"p25\":3.25,\"p50\":5.5,\"p75\":7.75" r &&
	grep -q "\"mean\":55," r &&
	mlops --json register show bc-model >j && grep -q "\"baseline\":[[:space:]]*\"$base\"" j
'

test_expect_success 'lineage and impact reach the dataset version behind a feature set' '
	mkdir -p fx && printf "cid,t,amount,y\n" >fx/tx.csv &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do
		echo "$((i % 5)),2024-01-01T$((i + 10)):00:00Z,$((i * 7 % 50)),$((i % 2))" >>fx/tx.csv || return 1
	done &&
	mlops -q dataset add fx --name fx &&
	echo "{\"name\":\"fxs\",\"source\":\"fx\",\"entity\":\"cid\",\"timestamp\":\"t\",\"features\":[{\"name\":\"a\",\"column\":\"amount\",\"transform\":\"standardize\"},{\"name\":\"y\",\"column\":\"y\",\"transform\":\"identity\"}]}" >fxs.json &&
	mlops -q feature add fxs.json && mlops -q feature materialize fxs &&
	dsid=$(mlops --json dataset show fx@v1 | json_field id) &&
	fsid=$(cat .mlops/refs/features/fxs/v1) &&
	run=$(mlops --json train --builtin logistic -f fxs --target y -p exclude=cid,t | json_field run) &&
	mlops -q register fx-model --run "$run" &&
	mlops register impact fx@v1 >out &&
	grep -q "^fx-model@v0.0.1 .* through feature set fxs@v1$" out &&
	mlops --json register impact fx@v1 >j && tr -d " \t\n" <j >r &&
	grep -q "\"feature_set\":{\"name\":\"fxs\",\"version\":1,\"record\":\"$fsid\"}" r &&
	mlops --json register impact churn-data@v1 | tr -d " \t\n" | grep -q "\"feature_set\":null" &&
	mlops --json register lineage fx-model >j && tr -d " \t\n" <j >r &&
	grep -q "\"datasets\":\[{\"feature_set\":\"$fsid\",\"name\":\"fx\",\"record\":\"$dsid\",\"type\":\"dataset\",\"version\":1}\]" r &&
	mlops register lineage fx-model >out &&
	sed -n 1,3p out >t &&
	grep -q "^dataset fx@v1  $(echo $dsid | cut -c1-12)$" t &&
	grep -q "^  -> feature-set fxs@v1  $(echo $fsid | cut -c1-12)$" t &&
	grep -q "^  -> run r-" t &&
	mlops register lineage fx-model --dot >dot &&
	grep -q "\"in:$dsid\" -> \"in:$fsid\"" dot &&
	grep -q "\"in:$fsid\" -> \"run:" dot &&
	! grep -q "\"in:$dsid\" -> \"run:" dot &&
	test_expect_code 3 mlops register impact fxs@v1 2>err &&
	grep -q "^mlops: dataset .fxs. not found$" err &&
	grep -q "^hint: fxs@v1 is a feature set version, made from dataset fx@v1: .mlops register impact fx@v1. lists" err &&
	test_expect_code 3 mlops register impact nothing@v1 2>err && ! grep -q "^hint:" err
'

# Metrics nested three deep, and a name with a newline in it.
cat >deep.sh <<'EOF'
#!/bin/sh
echo deep >"$MLOPS_OUTPUT/m.txt"
printf '{"a": {"b": {"c": 0.5}}, "x\\ny": 2}' >"$MLOPS_METRICS"
EOF
chmod +x deep.sh

test_expect_success 'show names a metric by its whole dotted name, quoted when it holds a control character' '
	run=$(mlops --json train -n deep -- ./deep.sh | json_field run) && test -n "$run" &&
	mlops -q register deep --run "$run" &&
	mlops register show deep >out &&
	grep -q "^  a.b.c = 0.5$" out &&
	grep -q "^  \"x\\\\ny\" = 2$" out &&
	test $(sed -n "/^metrics:/,\$p" out | wc -l) = 3
'

test_expect_success 'a gate reads a metric by the dotted name the tables show, and no other' '
	git config -f .mlops/config --add stage.dev.require "a.b.c >= 0.4" &&
	mlops -q register promote deep@v0.0.1 dev &&
	git config -f .mlops/config --replace-all stage.staging.require "a..b.c >= 0.4" &&
	test_expect_code 9 mlops register promote deep@v0.0.1 staging 2>err &&
	grep -q "it has no metric .a\.\.b\.c." err &&
	git config -f .mlops/config --replace-all stage.staging.require ".b.c >= 0.4" &&
	test_expect_code 9 mlops register promote deep@v0.0.1 staging 2>err &&
	grep -q "it has no metric .\.b\.c." err &&
	git config -f .mlops/config --remove-section stage.dev &&
	git config -f .mlops/config --remove-section stage.staging
'

test_expect_success 'model revisions: NAME, NAME@v, NAME@<record prefix>, NAME#stage' '
	rec=$(cat .mlops/refs/models/churn/v0.1.0) &&
	mlops register show churn@$(echo $rec | cut -c1-10) >out && grep -q "^model churn@v0.1.0$" out &&
	test_expect_code 3 mlops register show churn@v9.9.9 &&
	test_expect_code 3 mlops register show nobody &&
	test_expect_code 2 mlops register show "churn@zz" &&
	mlops --json register show churn#staging >j && grep -q "\"version\":[[:space:]]*\"v0.0.2\"" j
'

test_expect_success 'a clone made with git clone sees the registry, and git fetch --tags updates it' '
	git add -A && git commit -q -m more &&
	git clone -q . ../clone && cd ../clone && mlops -q init &&
	mlops register list >list &&
	grep -q "^churn  *v2.3.5 .*prod=v1.0.0" list &&
	mlops register show churn#prod >out && grep -q "^model churn@v1.0.0$" out &&
	grep -q "^record:   - (the record of churn@v1.0.0 .* is not in the store; .mlops pull. fetches it)" out &&
	mlops register history churn >hist && test $(wc -l <hist) = 17 &&
	(cd ../work && mlops -q register promote churn@v2.3.5 prod) &&
	git fetch -q --tags &&
	mlops register show churn#prod >out && grep -q "^model churn@v2.3.5$" out
'

test_expect_success 'list with 5,000 tags (fast-import), then packed by the next write' '
	mkdir ../many && cd ../many && git init -q && mlops -q init && git commit -q --allow-empty -m c &&
	c=$(git rev-parse HEAD) &&
	i=0 && : >fi &&
	while test $i -lt 50; do
		v=0 && while test $v -lt 50; do
			msg="Registering artifact m$i version v0.$v.0

version: v0.$v.0
" &&
			printf "tag m%d@v0.%d.0\nfrom %s\ntagger T <t@e> %d +0000\ndata %d\n%s\n" $i $v $c \
				$((1700000000 + i * 100 + v)) ${#msg} "$msg" >>fi &&
			printf "tag m%d#prod#%d\nfrom %s\ntagger T <t@e> %d +0000\ndata 0\n\n" $i $((v + 1)) $c \
				$((1700000000 + i * 100 + v)) >>fi &&
			v=$((v + 1))
		done && i=$((i + 1))
	done &&
	git fast-import --quiet <fi && test $(git tag | wc -l) = 5000 &&
	mlops --json register list >j &&
	test $(grep -c "\"latest\":[[:space:]]*\"v0.49.0\"" j) = 50 &&
	test $(grep -c "\"prod\":[[:space:]]*\"v0.49.0\"" j) = 50 &&
	echo w >w && mlops -q register m0 w &&
	test -z "$(ls .git/refs/tags)" && grep -q "refs/tags/m0@v0.49.1" .git/packed-refs &&
	s=$(date +%s%N) && mlops register list >list && e=$(date +%s%N) &&
	say "register list, 5,000 packed tags: $(( (e - s) / 1000000 )) ms" &&
	test $(wc -l <list) = 50
'

test_done
