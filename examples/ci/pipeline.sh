#!/bin/sh
# pipeline.sh - the CI/CD pipeline of a model, as one plain script: the
# steps that examples/ci/.gitlab-ci.yml and examples/ci/github-actions.yml
# run, so that a pipeline behaves the same in GitLab, in GitHub Actions and
# at a terminal.  Run it at the top of the work tree of a repository that
# uses mlops.
#
#   pipeline.sh [--skip STEP]... model       on a push to a branch
#       init     mlops init (a fresh clone has .mlops/config but no store)
#       pull     mlops pull, when a remote is configured
#       status   mlops status --exit-code: the data is what mlops.lock says
#       train    the built-in trainer, or the repository's own command
#       register mlops register MODEL --run RUN
#       gate     mlops register promote MODEL@VERSION STAGE: the stage's
#                gates ([stage "staging"] require = accuracy >= 0.9) decide
#       drift    mlops monitor check MODEL#STAGE --data DRIFT_DATA
#       publish  mlops push (when a remote is configured), then the new
#                registry tags to the git remote (with PUSH_TAGS=1)
#   pipeline.sh [--skip STEP]... deploy TAG  on a pushed stage tag NAME#STAGE#N
#       init, pull, then
#       deploy   mlops deploy NAME#STAGE DEPLOY_TARGET
#
# Settings, from the environment (CI variables):
#   MODEL          the model's registry name (lower case, digits, '-')
#   DATASET        the training data, a dataset revision (cancer, cancer@v3)
#   TARGET_COL     the label column, for the built-in trainer
#   TRAINER        built-in trainer: logistic (default), linear or auto
#   TRAIN_CMD      the repository's own training command instead, split on
#                  blanks, no shell (e.g. "python3 train.py")
#   STAGE          the stage a new version is promoted to (default staging)
#   DRIFT_DATA     a file of recent data for the drift gate
#   DEPLOY_TARGET  a deploy target of .mlops/config (default: the stage)
#   PUSH_TAGS      1: push the tags this run made to GIT_REMOTE (origin)
#   MLOPS          the mlops binary (default: mlops from PATH)
#
# Every step either does its work or stops the pipeline with a message and
# a non-zero status: the status of the mlops command that failed (1 for
# changed data or drift, 9 for a refused promotion, ...), or 2 when the
# pipeline is set up wrongly (a missing setting, a stage without gates, an
# mlops without a command a step needs).  A step is left out only when
# --skip names it, and the output says so.
set -u

MLOPS=${MLOPS:-mlops}
# The binary by its path (before the function mlops below exists).
case $MLOPS in
*/*) ;;
*) MLOPS=$(command -v "$MLOPS") || MLOPS= ;;
esac
if [ ! -x "${MLOPS:-/nonexistent}" ]; then
	echo "pipeline.sh: mlops is not installed (not in PATH, or MLOPS names no executable file)" >&2
	exit 2
fi
STAGE=${STAGE:-staging}
GIT_REMOTE=${GIT_REMOTE:-origin}
prog=pipeline.sh
skips=" "
step=
run_id=
version=

usage() {
	cat >&2 <<-EOF
	usage: $prog [--skip STEP]... model
	   or: $prog [--skip STEP]... deploy NAME#STAGE#N
	steps of model: init pull status train register gate drift publish
	steps of deploy: init pull deploy
	EOF
	exit 2
}

mlops() { "$MLOPS" "$@"; }

# CI log sections: collapsible groups in GitHub Actions and GitLab.
group_begin() {
	if [ -n "${GITHUB_ACTIONS:-}" ]; then
		printf '::group::%s\n' "$1"
	elif [ -n "${GITLAB_CI:-}" ]; then
		printf '\033[0Ksection_start:%s:%s\r\033[0K%s\n' "$(date +%s)" "$2" "$1"
	else
		printf '\n== %s\n' "$1"
	fi
}

group_end() {
	if [ -n "${GITHUB_ACTIONS:-}" ]; then
		printf '::endgroup::\n'
	elif [ -n "${GITLAB_CI:-}" ]; then
		printf '\033[0Ksection_end:%s:%s\r\033[0K\n' "$(date +%s)" "$1"
	fi
}

note() { printf '%s: %s\n' "$prog" "$*"; }

# fail STATUS MESSAGE: end the pipeline at the current step.
fail() {
	_status=$1
	shift
	[ -n "$step" ] && group_end "mlops_$step"
	printf '%s: step %s failed: %s\n' "$prog" "${step:-setup}" "$*" >&2
	exit "$_status"
}

# run CMD...: show the command (on stderr, since stdout may be captured),
# run it, return its status.
run() {
	{
		printf '$'
		for _a in "$@"; do
			case $_a in
			*[!A-Za-z0-9_./:=@#%+,-]* | '') printf " '%s'" "$_a" ;;
			*) printf ' %s' "$_a" ;;
			esac
		done
		printf '\n'
	} >&2
	"$@"
}

# need CMD...: the mlops commands this step runs must exist.
need() {
	for _c in "$@"; do
		"$MLOPS" "$_c" -h >/dev/null 2>&1 ||
			fail 2 "it needs 'mlops $_c', which $MLOPS ($("$MLOPS" --version 2>&1 | head -n 1)) does not have"
	done
}

# setting NAME: the environment variable NAME must be set.
setting() {
	eval "_v=\${$1:-}"
	[ -n "$_v" ] || fail 2 "$1 is not set ($2)"
}

# json_str KEY < JSON: a top-level string member of mlops's --json output.
json_str() {
	sed -n "s/^[[:space:]]\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1
}

# Is a remote configured?  Asked of mlops when it has remotes; otherwise
# read from .mlops/config, so that a remote is never ignored in silence.
have_remote() {
	if "$MLOPS" remote -h >/dev/null 2>&1; then
		_remotes=$("$MLOPS" remote list) || fail $? "unable to list the remotes"
		[ -n "$_remotes" ]
	else
		git config -f .mlops/config --get-regexp '^remote\..*\.url$' >/dev/null 2>&1
	fi
}

# ---- the steps ----

step_init() {
	need init
	run mlops init || fail $? "unable to set up the mlops store"
}

step_pull() {
	if ! have_remote; then
		note "no remote is configured ('mlops remote add'): nothing to pull; the data must be in the work tree"
		return 0
	fi
	need pull
	run mlops pull || fail $? "unable to get the data that mlops.lock names from the remote"
}

step_status() {
	need status
	run mlops status --exit-code ||
		fail $? "the tracked data is not what mlops.lock records: record it ('mlops dataset add') and commit mlops.lock, or restore it ('mlops checkout')"
}

step_train() {
	need train
	setting MODEL "the model's registry name"
	setting DATASET "the training dataset revision, e.g. cancer@v3"
	out=$tmp/train.json
	if [ -n "${TRAIN_CMD:-}" ]; then
		# shellcheck disable=SC2086 # TRAIN_CMD is split on blanks on purpose
		run mlops --json train -n "$MODEL" -d "$DATASET" -- $TRAIN_CMD >"$out" ||
			fail $? "the training command failed (its output is above)"
	else
		setting TARGET_COL "the label column for the built-in trainer (or set TRAIN_CMD)"
		run mlops --json train --builtin "${TRAINER:-logistic}" -n "$MODEL" -d "$DATASET" \
			--target "$TARGET_COL" >"$out" ||
			fail $? "the built-in trainer failed"
	fi
	run_id=$(json_str run <"$out")
	[ -n "$run_id" ] || fail 2 "no run id in the output of mlops train"
	mlops train show "$run_id" || fail $? "unable to show run '$run_id'"
}

step_register() {
	need register
	setting MODEL "the model's registry name"
	[ -n "$run_id" ] || fail 2 "no run to register: the train step did not run"
	out=$tmp/register.json
	err=$tmp/register.err
	if run mlops --json register "$MODEL" --run "$run_id" \
		-m "registered by CI from commit $(git rev-parse --short HEAD)" >"$out" 2>"$err"; then
		cat "$err" >&2
		version=$(json_str version <"$out")
		note "registered $MODEL@$version (tag $(json_str tag <"$out"))"
	else
		_status=$?
		cat "$err" >&2
		# A pipeline run again on the same commit and data trains nothing new
		# (the run cache) and gets exit 9: that artifact is already a version.
		version=$(sed -n "s/.* already registered as $MODEL@\(v[0-9][0-9.]*\).*/\1/p" "$err" | head -n 1)
		if [ "$_status" != 9 ] || [ -z "$version" ]; then
			fail "$_status" "unable to register the outputs of run $run_id as '$MODEL'"
		fi
		note "run $run_id is already $MODEL@$version: the gates check that version"
	fi
	[ -n "$version" ] || fail 2 "no version in the output of mlops register"
}

step_gate() {
	need register
	[ -n "$version" ] || fail 2 "no version to promote: the register step did not run"
	gates=$(git config -f .mlops/config --get-all "stage.$STAGE.require")
	[ -n "$gates" ] ||
		fail 2 "stage '$STAGE' has no gate, so every version would pass: add [stage \"$STAGE\"] require = accuracy >= 0.9 to .mlops/config"
	printf '%s\n' "$gates" | sed "s/^/gate of $STAGE: /"
	run mlops register promote "$MODEL@$version" "$STAGE" -m "promoted by CI" ||
		fail $? "$MODEL@$version was not promoted to '$STAGE' (a failing gate is named above)"
}

step_drift() {
	need monitor
	setting MODEL "the model's registry name"
	setting DRIFT_DATA "a file of recent data to compare with the training data"
	run mlops monitor check "$MODEL#$STAGE" --data "$DRIFT_DATA"
	_status=$?
	[ $_status = 0 ] && return 0
	[ $_status = 1 ] && fail 1 "'$DRIFT_DATA' has drifted from the data $MODEL#$STAGE was trained on (see above)"
	fail $_status "unable to check '$DRIFT_DATA' for drift against $MODEL#$STAGE"
}

step_publish() {
	if have_remote; then
		need push
		run mlops push || fail $? "unable to push the data, runs and model versions to the remote"
	else
		note "no remote is configured ('mlops remote add'): the store is not pushed"
	fi
	if [ "${PUSH_TAGS:-}" = 1 ]; then
		# Every tag of the model that the git remote lacks, also those of an
		# earlier run of this job that stopped at a gate.
		git ls-remote --tags "$GIT_REMOTE" >"$tmp/remote.tags" ||
			fail $? "unable to list the tags of git remote '$GIT_REMOTE'"
		sed -n 's,^[0-9a-f]*[[:space:]]refs/tags/\([^^]*\)$,\1,p' "$tmp/remote.tags" | sort >"$tmp/tags.remote"
		git tag -l "$MODEL@*" "$MODEL#*" | sort >"$tmp/tags.local"
		new_tags=$(comm -23 "$tmp/tags.local" "$tmp/tags.remote")
		if [ -z "$new_tags" ]; then
			note "git remote '$GIT_REMOTE' has every tag of $MODEL"
		else
			# shellcheck disable=SC2086 # tag names hold no blanks
			run git push "$GIT_REMOTE" $new_tags || fail $? "unable to push the registry tags to '$GIT_REMOTE'"
		fi
	else
		git tag -l | sort >"$tmp/tags.after"
		new_tags=$(comm -13 "$tmp/tags.before" "$tmp/tags.after")
		# shellcheck disable=SC2086
		[ -z "$new_tags" ] ||
			note "registry tags made, not pushed (PUSH_TAGS=1 pushes them): $(printf '%s ' $new_tags)"
	fi
}

step_deploy() {
	need deploy register
	run mlops deploy "$deploy_name#$deploy_stage" "${DEPLOY_TARGET:-$deploy_stage}" ||
		fail $? "unable to deploy $deploy_name#$deploy_stage to target '${DEPLOY_TARGET:-$deploy_stage}'"
}

# ---- main ----

while [ $# -gt 0 ]; do
	case $1 in
	--skip)
		[ $# -ge 2 ] || usage
		skips="$skips$2 "
		shift 2
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
mode=$1
case $mode in
model)
	[ $# = 1 ] || usage
	steps="init pull status train register gate drift publish"
	;;
deploy)
	[ $# = 2 ] || usage
	tag=$2
	# GTO's stage tag NAME#STAGE#N; NAME#STAGE!#N (a demotion) is not one.
	deploy_name=${tag%%#*}
	rest=${tag#*#}
	deploy_stage=${rest%%#*}
	counter=${rest#*#}
	case $tag in
	*'#'*'#'*) ;;
	*) fail 2 "'$tag' is not a stage tag NAME#STAGE#N" ;;
	esac
	case $deploy_name$deploy_stage in *[!a-z0-9-]* | '') fail 2 "'$tag' is not a stage tag NAME#STAGE#N" ;; esac
	case $counter in *[!0-9]* | '') fail 2 "'$tag' is not a stage tag NAME#STAGE#N" ;; esac
	steps="init pull deploy"
	;;
*) usage ;;
esac
for s in $skips; do
	case $s in
	init | pull | status | train | register | gate | drift | publish | deploy) ;;
	*) fail 2 "--skip $s: there is no step '$s'" ;;
	esac
done

git rev-parse --show-toplevel >/dev/null 2>&1 || fail 2 "not in a git work tree: run the pipeline in the repository"
cd "$(git rev-parse --show-toplevel)" || fail 2 "unable to enter the top of the work tree"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlops-pipeline.XXXXXX") || fail 2 "unable to make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
git tag -l | sort >"$tmp/tags.before"

for s in $steps; do
	case $skips in
	*" $s "*)
		note "step $s skipped (--skip $s)"
		continue
		;;
	esac
	step=$s
	group_begin "$s" "mlops_$s"
	"step_$s"
	group_end "mlops_$s"
	step=
done
note "$mode: every step succeeded"
