#!/bin/sh
# mlops train --executor slurm, on a real single-node Slurm cluster on
# 127.0.0.1 (tests/slurm-cluster.sh): the environment contract, pending runs
# in `train list`, wait, the run recorded as a local one (run cache shared
# with local runs), hostile arguments, failures, a 4-point sweep ranked when
# all have ended, cancel (running and queued), config defaults and
# shared-dir.  Skipped, saying why, where Slurm is not installed or its
# daemons cannot start here.
. "$(dirname "$0")/lib.sh"

CLUSTER="$TEST_ROOT/tests/slurm-cluster.sh"
SDIR=$(mktemp -d "${TMPDIR:-/tmp}/mlops-slurm.XXXXXX")
cluster_stop() {
	"$CLUSTER" stop "$SDIR/cluster" >/dev/null 2>&1
	rm -rf "$SDIR"
}
trap cluster_stop EXIT
trap 'exit 130' INT TERM

usage_checks() {
	test_expect_success 'Slurm options go with --executor slurm; built-ins run in-process' '
		test_expect_code 2 mlops train --partition debug -- true 2>err &&
		grep -q -- "--partition goes with --executor slurm" err &&
		test_expect_code 2 mlops train --wait -- true 2>err &&
		test_expect_code 2 mlops train --executor nowhere -- true 2>err &&
		grep -q "expected local or slurm" err &&
		test_expect_code 2 mlops train --executor slurm --builtin linear -d x --target y 2>err &&
		grep -q "cannot run on Slurm" err &&
		test_expect_code 3 mlops train wait 999999 2>err &&
		test_expect_code 3 mlops train cancel p-abcdef 2>err &&
		mlops train wait -h | grep -q "usage: mlops train wait" &&
		mlops train cancel -h | grep -q "usage: mlops train cancel"
	'
}

mlops -q init
printf '%s\n' /out /err /r /j /l /p /log /restored/ /outdir/ /state >>.git/info/exclude
git add -A && git commit -q -m init
usage_checks

start_out=$("$CLUSTER" start "$SDIR/cluster" 2>"$SDIR/start.err")
start_rc=$?
if [ $start_rc -ne 0 ]; then
	if [ $start_rc -eq 77 ]; then
		why="Slurm is not installed ($(cat "$SDIR/start.err" | head -n 1); scripts/install-deps installs slurm-wlm and munge)"
	else
		why="the Slurm daemons did not start here: $(head -n 1 "$SDIR/start.err")"
		sed 's/^/# /' "$SDIR/start.err"
	fi
	say "$why"
	test_skip "a run on Slurm: $why"
	test_skip "a sweep on Slurm: $why"
	test_skip "cancel on Slurm: $why"
	test_done
fi
eval "$start_out"
say "cluster up: $(sinfo -h -o '%P %T %c CPUs %m MB' 2>/dev/null)"

mkdir -p data && printf 'x,y\n1,2\n3,4\n' >data/t.csv &&
mlops -q dataset add data --name my-data >/dev/null

# The contract, seen from a job on a node.
cat >contract.sh <<'EOF'
#!/bin/sh
set -e
# Held until the test has seen the job pending (../go), at most 30 s.
i=0; while [ ! -e ../go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
test -n "$SLURM_JOB_ID"
test -n "$MLOPS_RUN_ID"
test -f "$MLOPS_PARAMS"
test -d "$MLOPS_OUTPUT" && test -z "$(ls -A "$MLOPS_OUTPUT")"
test ! -e "$MLOPS_METRICS"
test -f "$MLOPS_INPUT_MY_DATA/t.csv"
echo "job $SLURM_JOB_ID run $MLOPS_RUN_ID"
echo "to stderr" >&2
echo model >"$MLOPS_OUTPUT/model.bin"
mkdir "$MLOPS_OUTPUT/sub" && echo 1 >"$MLOPS_OUTPUT/sub/f"
printf '{"acc": 0.75, "val": {"loss": 0.5}}' >"$MLOPS_METRICS"
EOF
# Arguments exactly as given, one a line.
cat >args.sh <<'EOF'
#!/bin/sh
for a; do printf '[%s]\n' "$a"; done
EOF
# A sweep: acc = -(lr - 2)^2, best at lr=2.
cat >sweep.sh <<'EOF'
#!/bin/sh
lr=$(tr -d ' \n\t' <"$MLOPS_PARAMS" | sed 's/.*"lr":\([0-9.]*\).*/\1/')
awk -v lr="$lr" 'BEGIN { printf "{\"acc\": %g}", 0 - (lr - 2) * (lr - 2) }' >"$MLOPS_METRICS"
EOF
chmod +x contract.sh args.sh sweep.sh
git add -A && git commit -q -m scripts

json_field() { sed -n "s/.*\"$1\":[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" | head -n 1; }

test_expect_success 'a submitted run is pending, with its job id, until it ends' '
	mlops --json train --executor slurm -d my-data -p lr=0.1 -o outdir -- ./contract.sh >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"type\":\"pending-run\"" r && grep -q "\"pending\":\"p-[0-9a-f]\{8\}\"" r &&
	job=$(json_field job_id <r) && test -n "$job" &&
	echo "$job" >../job1 &&
	test "$(cat .mlops/refs/runs-pending/$job)" = "$(json_field id <r)" &&
	mlops train list >l; rc=$?
	touch ../go
	test $rc = 0 && grep -q "contract .*Slurm job $job" l
'

test_expect_success 'wait blocks until the job ends and records it like a local run' '
	job=$(cat ../job1) &&
	mlops train wait "$job" >out &&
	grep -q "^r-[0-9a-f]\{8\} contract: succeeded" out &&
	! test -e .mlops/refs/runs-pending/$job &&
	mlops --json train show contract | tr -d " \t\n" >r &&
	grep -q "\"type\":\"run\"" r && grep -q "\"status\":\"succeeded\"" r &&
	grep -q "\"exit_status\":0" r && grep -q "\"command\":\[\"./contract.sh\"\]" r &&
	grep -q "\"params\":{\"lr\":0.1}" r &&
	grep -q "\"metrics\":{\"acc\":0.75,\"val\":{\"loss\":0.5}}" r &&
	grep -q "\"outputs\":{\"files\":2,\"id\":\"[0-9a-f]\{64\}\",\"kind\":\"tree\"" r &&
	grep -q "\"inputs\":\[{\"name\":\"my-data\",\"record\":\"[0-9a-f]\{64\}\",\"type\":\"dataset\",\"version\":1}\]" r &&
	grep -q "\"git_commit\":\"$(git rev-parse HEAD)\"" r && grep -q "\"git_dirty\":false" r &&
	grep -q "\"slurm\":{\"job_id\":\"$job\",\"state\":\"COMPLETED\"" r &&
	grep -q "\"cache_key\":\"[0-9a-f]\{64\}\"" r &&
	mlops train log contract >log &&
	grep -q "^job $job run [0-9a-f]\{32\}$" log && grep -q "to stderr" log &&
	test "$(cat outdir/model.bin)" = model && test "$(cat outdir/sub/f)" = 1 &&
	test -z "$(ls .mlops/tmp/slurm)"
'

test_expect_success 'waiting again for an ended job shows its run' '
	mlops train wait "$(cat ../job1)" >out && grep -q "contract: succeeded" out
'

test_expect_success 'the same run is a cache hit, submitted or local: no job, outputs restored' '
	mlops train --executor slurm -d my-data -p lr=0.1 -o restored -- ./contract.sh >out &&
	grep -q "cached" out && test "$(cat restored/model.bin)" = model &&
	mlops train -d my-data -p lr=0.1 -- ./contract.sh >out && grep -q "cached" out &&
	test -z "$(ls .mlops/refs/runs-pending 2>/dev/null)" &&
	test $(mlops train list | wc -l) = 1
'

test_expect_success 'arguments reach the job exactly, through the generated script' '
	mlops train --executor slurm --wait -n args -- ./args.sh "it'"'"'s" "\$(touch pwned)" \
		"a  b" "\`id\`" "" "x;y" "*" >out &&
	grep -q "args: succeeded" out &&
	mlops train log args >log &&
	printf "[%s]\n" "it'"'"'s" "\$(touch pwned)" "a  b" "\`id\`" "" "x;y" "*" >want &&
	test_cmp want log && ! test -e pwned
'

test_expect_success 'a failing job is recorded as failed and its status is ours' '
	test_expect_code 3 mlops train --executor slurm --wait -n bad -- sh -c "echo before failing; exit 3" >out &&
	grep -q "bad: failed" out &&
	mlops --json train show bad | tr -d " \t\n" >r &&
	grep -q "\"status\":\"failed\"" r && grep -q "\"exit_status\":3" r &&
	grep -q "\"state\":\"FAILED\"" r &&
	mlops train log bad | grep -q "before failing"
'

test_expect_success 'a 4-point sweep: one job a point, ranked when all have ended' '
	mlops train --executor slurm --wait -n sw --sweep lr=0.5,1,2,3 --metric acc -- ./sweep.sh >out &&
	test $(grep -c "^[1-4] .*succeeded" out) = 4 &&
	grep -q "^1 .* 2  *0  <- best" out && grep -q "^2 .* 1  *-1$" out &&
	grep -q "^3 .* 3  *-1$" out && grep -q "^4 .* 0.5  *-2.25$" out &&
	test $(mlops train list --name sw | wc -l) = 4 &&
	test $(mlops --json train list --name sw | grep -c "\"job_id\"") = 4
'

test_expect_success 'a sweep submitted without --wait: pending points, then wait for each' '
	mlops train --executor slurm -n sw2 --sweep lr=4,5 -- ./sweep.sh >out &&
	test $(grep -c "sw2: submitted as Slurm job" out) = 2 &&
	ids=$(sed -n "s/^\(p-[0-9a-f]*\) .*/\1/p" out) &&
	mlops train wait $ids >out &&
	test $(grep -c "sw2: succeeded" out) = 2
'

test_expect_success 'cancel: a running job is recorded as interrupted, a queued one dropped' '
	mlops train --executor slurm -n long --cpus 2 -- sh -c "echo started; sleep 60" >out &&
	mlops train --executor slurm -n queued --cpus 2 -- sleep 1 >out &&
	# Running, and its command begun (Slurm says RUNNING before the batch
	# script has run a line: a cancel then is "before its command started").
	i=0 && while ! mlops train list | grep -q "long .*running" ||
		! grep -qs started .mlops/tmp/slurm/*/log; do
		i=$((i + 1)) && test $i -lt 100 && sleep 0.2 || return 1; done &&
	mlops train list >l && grep -q "queued .*queued .*Slurm job" l &&
	mlops --json train list | tr -d " \t\n" >r &&
	grep -q "\"state\":\"RUNNING\",\"status\":\"running\"" r &&
	grep -q "\"state\":\"PENDING\",\"status\":\"queued\"" r &&
	test_expect_code 1 mlops train wait --timeout 0.5 long 2>err &&
	grep -q "has not ended after" err &&
	mlops train cancel queued >out && cat out && grep -q "before its command started" out &&
	mlops train cancel long >out && cat out && grep -q "long: interrupted" out &&
	mlops --json train show long | tr -d " \t\n" >r && cat r && echo &&
	grep -q "\"status\":\"interrupted\"" r && grep -q "\"state\":\"CANCELLED\"" r &&
	mlops train log long | grep -q started &&
	test_must_fail mlops train show queued &&
	test_expect_code 9 mlops train cancel long 2>err && grep -q "has ended already" err &&
	test -z "$(ls .mlops/refs/runs-pending)"
'

test_expect_success '[executor "slurm"] defaults: a bad partition is sbatch'"'"'s error; shared-dir' '
	git config -f .mlops/config executor.slurm.partition nosuch &&
	test_expect_code 10 mlops train --executor slurm -n p -- true 2>err &&
	grep -q "^mlops: .*nosuch\|^mlops: .*partition" err &&
	test -z "$(ls .mlops/refs/runs-pending)" && test -z "$(ls .mlops/tmp/slurm)" &&
	git config -f .mlops/config executor.slurm.shared-dir shared &&
	mlops --json train --executor slurm --partition debug -n p -- true >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"dir\":\"$(pwd)/shared/job-" r && grep -q "\"partition\":\"debug\"" r &&
	mlops train wait p >out && grep -q "p: succeeded" out &&
	git config -f .mlops/config --remove-section executor.slurm
'

test_expect_success 'list records jobs that ended while nobody waited' '
	mlops train --executor slurm -n later -- true >out &&
	job=$(sed -n "s/.*Slurm job \([0-9_]*\).*/\1/p" out) &&
	i=0 && while test -z "$(ls .mlops/tmp/slurm/*/exit 2>/dev/null)"; do
		i=$((i + 1)) && test $i -lt 100 && sleep 0.2 || return 1; done &&
	mlops train list >l && grep -q "later .*succeeded" l && ! grep -q "Slurm job" l &&
	test -z "$(ls .mlops/refs/runs-pending)"
'

"$CLUSTER" stop "$SDIR/cluster" >/dev/null 2>&1
test_done
