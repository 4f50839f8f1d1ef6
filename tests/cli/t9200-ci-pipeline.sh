#!/bin/sh
# examples/ci/pipeline.sh, the pipeline of examples/ci/*.yml: on a push it
# pulls, checks, trains, registers, gates and publishes; a pushed prod tag
# deploys; any step that fails fails the pipeline.
#
# A developer's repository pushes git to a bare repository and, when this
# mlops has remotes, its store to a directory remote; each CI run works in a
# fresh clone of both (without remotes: in a copy of the developer's
# repository).  Steps whose commands this mlops does not have yet are left
# out with --skip, and the test says which.
. "$(dirname "$0")/lib.sh"

PIPELINE=$TEST_ROOT/examples/ci/pipeline.sh
DATA=$TEST_ROOT/examples/data/breast_cancer.csv

# The binary the pipeline runs (under valgrind when the tests are).
mkdir -p "$TRASH/bin"
cat >"$TRASH/bin/mlops" <<EOF
#!/bin/sh
if [ "\${MLOPS_VALGRIND:-}" = 1 ]; then
	exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=126 "$MLOPS_BIN" "\$@"
fi
exec "$MLOPS_BIN" "\$@"
EOF
chmod +x "$TRASH/bin/mlops"

have() { mlops "$1" -h >/dev/null 2>&1; }
have_register=
have_monitor=
with_remote=
have register && have_register=1
have monitor && have_monitor=1
have remote && have push && have pull && with_remote=1
skip_args=
skip() {
	skip_args="$skip_args --skip $1"
	say "step $1 left out: $2"
}
if [ -z "$have_register" ]; then
	skip register "this mlops has no 'register'"
	skip gate "this mlops has no 'register'"
fi
if [ -z "$have_monitor" ] || [ -z "$have_register" ]; then
	skip drift "this mlops has no 'monitor' or no 'register'"
fi
[ -n "$with_remote" ] ||
	say "this mlops has no 'remote', 'push' or 'pull': no pull or push of the store, CI runs in copies"

# run_pipeline ARGS...: the pipeline as the CI files run it.
run_pipeline() {
	# shellcheck disable=SC2086
	MLOPS=$TRASH/bin/mlops MODEL=cancer-clf DATASET=cancer TARGET_COL=target STAGE=staging \
		DRIFT_DATA=${DRIFT_DATA:-data/breast_cancer.csv} DEPLOY_TARGET=prod PUSH_TAGS=1 \
		"$PIPELINE" $skip_args "$@"
}

# ci_repo DIR: the work tree a CI job starts from: a clone, or without
# remotes a copy of $ci_base (the developer's repository, then the first CI
# work tree, whose store has the runs and versions that its tags name).
ci_base=dev
ci_repo() {
	if [ -n "$with_remote" ]; then
		git clone -q "$TRASH/origin.git" "$1"
	else
		cp -a "$TRASH/work/$ci_base" "$1"
	fi
}

remote_tags() { git ls-remote --tags "$TRASH/origin.git" | sed -n 's,.*refs/tags/\([^^]*\)$,\1,p'; }

test_expect_success 'a developer repository: data, gates, a deploy target, pushed' '
	git init -q --bare -b main "$TRASH/origin.git" &&
	git init -q -b main dev && cd dev &&
	mlops -q init && mkdir data && cp "$DATA" data/ &&
	mlops -q dataset add data/breast_cancer.csv --name cancer &&
	git config -f .mlops/config stage.staging.require "accuracy >= 0.9" &&
	git config -f .mlops/config stage.prod.require "roc_auc >= 0.95" &&
	git config -f .mlops/config deploy.prod.type dir &&
	git config -f .mlops/config deploy.prod.path "$TRASH/srv" &&
	if [ -n "$with_remote" ]; then
		mlops -q remote add store "$TRASH/store" && mlops -q push
	fi &&
	git add -A && git commit -q -m "data, gates and a deploy target" &&
	git remote add origin "$TRASH/origin.git" && git push -q origin main
'

test_expect_success 'on a push every step runs and succeeds' '
	ci_repo ci1 && cd ci1 &&
	run_pipeline model >out 2>&1 || { cat out; return 1; }
	grep -q "^pipeline.sh: model: every step succeeded$" out &&
	for s in $skip_args; do
		case $s in --skip) ;; *) grep -q "^pipeline.sh: step $s skipped" out || return 1 ;; esac
	done &&
	grep -q "^\\$ mlops status --exit-code$" out &&
	mlops train list >runs && grep -q " cancer-clf " runs &&
	if [ -n "$with_remote" ]; then
		grep -q "^\\$ mlops pull$" out && grep -q "^\\$ mlops push$" out
	else
		grep -q "no remote is configured" out
	fi &&
	if [ -n "$have_register" ]; then
		grep -q "^\\$ mlops register promote cancer-clf@v0.0.1 staging" out &&
		remote_tags >tags && grep -qx "cancer-clf@v0.0.1" tags && grep -qx "cancer-clf#staging#1" tags
	fi
'

ci_base=ci1

if [ -n "$have_register" ]; then
	test_expect_success 'run again on the same commit: the same version, no new tag' '
		cd ci1 && run_pipeline model >out 2>&1 || { cat out; return 1; }
		grep -q "already cancer-clf@v0.0.1" out &&
		grep -q "already holds staging" out &&
		remote_tags >tags && test $(grep -c "^cancer-clf" tags) = 2
	'
fi

test_expect_success 'data that differs from mlops.lock stops the pipeline before training' '
	ci_repo ci2 && cd ci2 &&
	if [ -n "$with_remote" ]; then mlops -q init && mlops -q pull; fi &&
	head -n 300 "$DATA" >data/breast_cancer.csv &&
	test_expect_code 1 run_pipeline --skip pull model >out 2>&1 &&
	grep -q "step status failed: the tracked data is not what mlops.lock records" out &&
	! grep -q "^== train" out && ! grep -q "every step succeeded" out
'

test_expect_success 'a missing command fails its step loudly' '
	cat >fake-mlops <<-EOF &&
	#!/bin/sh
	if [ "\$1" = train ]; then echo "mlops: '"'"'train'"'"' is not a command" >&2; exit 2; fi
	exec "$MLOPS_BIN" "\$@"
	EOF
	chmod +x fake-mlops &&
	ci_repo ci3 && cd ci3 &&
	test_expect_code 2 env MLOPS="$TRASH/work/fake-mlops" MODEL=cancer-clf DATASET=cancer TARGET_COL=target \
		"$PIPELINE" model >out 2>&1 &&
	grep -q "step train failed: it needs .mlops train., which .* does not have" out &&
	! grep -q "every step succeeded" out
'

if [ -n "$have_register" ]; then
	test_expect_success 'a failing metric gate stops the pipeline: exit 9, nothing published' '
		ci_repo ci4 && cd ci4 &&
		if [ -n "$with_remote" ]; then mlops -q init && mlops -q pull; fi &&
		head -n 500 "$DATA" >data/breast_cancer.csv &&
		mlops -q dataset add data/breast_cancer.csv --name cancer &&
		git config -f .mlops/config --replace-all stage.staging.require "accuracy >= 0.999" &&
		git commit -q -a -m "fewer rows, a gate too high" &&
		test_expect_code 9 run_pipeline model >out 2>&1 &&
		grep -q "step gate failed: cancer-clf@v0.0.2 was not promoted to .staging." out &&
		! grep -q "^== drift" out && ! grep -q "^== publish" out &&
		git rev-parse -q --verify "refs/tags/cancer-clf@v0.0.2" >/dev/null &&
		remote_tags >tags && ! grep -q "cancer-clf@v0.0.2" tags
	'

	test_expect_success 'a stage without gates is refused: it would let every version pass' '
		ci_repo ci5 && cd ci5 &&
		git config -f .mlops/config --unset-all stage.staging.require &&
		test_expect_code 2 run_pipeline model >out 2>&1 &&
		grep -q "stage .staging. has no gate" out
	'
fi

if [ -n "$have_register" ] && [ -n "$have_monitor" ]; then
	test_expect_success 'drift in recent data fails the pipeline with status 1' '
		ci_repo ci6 && cd ci6 &&
		awk -F, -v OFS=, "NR > 1 { for (i = 1; i < NF; i++) \$i = \$i * 3 + 1 } { print }" "$DATA" >"$TRASH/recent.csv" &&
		DRIFT_DATA="$TRASH/recent.csv" &&
		test_expect_code 1 run_pipeline model >out 2>&1 &&
		grep -q "step drift failed: .* has drifted" out &&
		! grep -q "^== publish" out
	'
fi

if [ -n "$have_register" ] && have deploy; then
	test_expect_success 'a pushed prod tag deploys the version holding prod to the target' '
		if [ -n "$with_remote" ]; then
			cd dev && git fetch -q --tags origin && mlops -q pull
		else
			cd ci1
		fi &&
		mlops register promote cancer-clf@v0.0.1 prod >out &&
		tag=$(git tag -l "cancer-clf#prod#*") && test -n "$tag" &&
		git push -q origin "$tag" && cd .. &&
		ci_repo ci7 && cd ci7 &&
		run_pipeline deploy "$tag" >out 2>&1 || { cat out; return 1; }
		grep -q "^\\$ mlops deploy cancer-clf#prod prod$" out &&
		test -f "$TRASH/srv/current/model.json" &&
		readlink "$TRASH/srv/current" | grep -q "0.0.1"
	'
fi

test_expect_success 'what is not a stage tag, a step or a mode is refused' '
	cd dev &&
	test_expect_code 2 run_pipeline deploy "cancer-clf@v0.0.1" 2>err &&
	grep -q "is not a stage tag NAME#STAGE#N" err &&
	test_expect_code 2 run_pipeline deploy "cancer-clf#prod!#7" 2>err &&
	test_expect_code 2 run_pipeline deploy "cancer-clf#prod#x" 2>err &&
	test_expect_code 2 run_pipeline --skip nosuch model 2>err &&
	grep -q "there is no step .nosuch." err &&
	test_expect_code 2 run_pipeline release 2>err && grep -q "^usage:" err
'

test_expect_success 'the CI files: the pipeline on branches, deploy on prod tags only' '
	gl=$TEST_ROOT/examples/ci/.gitlab-ci.yml gh=$TEST_ROOT/examples/ci/github-actions.yml &&
	grep -q "ci/pipeline.sh model$" "$gl" && grep -q "ci/pipeline.sh model$" "$gh" &&
	grep -q "ci/pipeline.sh deploy \"\$CI_COMMIT_TAG\"$" "$gl" &&
	grep -q "ci/pipeline.sh deploy \"\$GITHUB_REF_NAME\"$" "$gh" &&
	re=$(sed -n "s,.*if: \$CI_COMMIT_TAG =~ /\(.*\)/$,\1,p" "$gl") && test -n "$re" &&
	glob=$(sed -n "s/.*tags: \[.\(.*\).\]$/\1/p" "$gh") && test -n "$glob" &&
	for t in "cancer-clf#prod#3" "a1#prod#12"; do
		echo "$t" | grep -qE "$re" && case $t in $glob) ;; *) return 1 ;; esac || return 1
	done &&
	for t in "cancer-clf#prod!#4" "cancer-clf#staging#2" "cancer-clf@v1.0.0"; do
		! echo "$t" | grep -qE "$re" && case $t in $glob) return 1 ;; esac || return 1
	done &&
	if /usr/bin/python3 -c "import yaml" 2>/dev/null; then
		/usr/bin/python3 - "$gl" "$gh" <<-\EOF
		import sys, yaml
		gl = yaml.safe_load(open(sys.argv[1]))
		gh = yaml.safe_load(open(sys.argv[2]))
		assert "ci/pipeline.sh model" in gl["model"]["script"][-1]
		assert gl["deploy"]["rules"][0]["if"] == "$CI_COMMIT_TAG =~ /#prod#/"
		assert gl["variables"]["GIT_DEPTH"] == "0"
		on = gh[True]  # YAML 1.1 reads the key on as true
		assert on["push"]["tags"] == ["*#prod#*"]
		assert gh["jobs"]["deploy"]["if"] == "github.ref_type == '"'"'tag'"'"'"
		assert gh["jobs"]["model"]["steps"][0]["with"]["fetch-depth"] == 0
		EOF
	fi
'

test_done
