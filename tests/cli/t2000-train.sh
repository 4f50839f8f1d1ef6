#!/bin/sh
# mlops train: the run contract, records, cache, failures, dirty trees,
# interruptions, sweeps, list/show/compare/log, and the examples.
. "$(dirname "$0")/lib.sh"

mlops -q init
# Scratch files of the tests stay out of the code state.
printf '%s\n' /out /err /r /j /l /p /log /show /cmp /seen-params.json /seen-id \
	/restored/ /lin/ /py-out/ /sh-out/ /slow.pid >>.git/info/exclude
git add -A && git commit -q -m init

mkdir -p data && printf 'x,y\n1,2\n3,4\n' >data/t.csv &&
mlops -q dataset add data --name my-data >/dev/null
git add -A && git commit -q -m data

# The contract, seen from a training command.
cat >contract.sh <<'EOF'
#!/bin/sh
set -e
test -n "$MLOPS_RUN_ID"
test -f "$MLOPS_PARAMS"
test -d "$MLOPS_OUTPUT" && test -z "$(ls -A "$MLOPS_OUTPUT")"
test ! -e "$MLOPS_METRICS"
test -f "$MLOPS_INPUT_MY_DATA/t.csv"
cp "$MLOPS_PARAMS" "$(dirname "$0")/seen-params.json"
echo "$MLOPS_RUN_ID" >"$(dirname "$0")/seen-id"
echo "to stdout"
echo "to stderr" >&2
echo model >"$MLOPS_OUTPUT/model.bin"
mkdir "$MLOPS_OUTPUT/sub" && echo 1 >"$MLOPS_OUTPUT/sub/f"
printf '{"acc": 0.75, "val": {"loss": 0.5}, "note": "x"}' >"$MLOPS_METRICS"
EOF
chmod +x contract.sh
git add contract.sh && git commit -q -m contract

json_field() { sed -n "s/.*\"$1\":[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" | head -n 1; }

test_expect_success 'the command sees its inputs, params, output directory and metrics file' '
	mlops train -n c -d my-data -p lr=0.1 -p n=3 -p name=foo -p flag=true -p big=1e3 \
		-- ./contract.sh >out 2>err &&
	grep -q "^to stdout" out && grep -q "^to stderr" err &&
	grep -q "^r-[0-9a-f]\{8\} c: succeeded" out &&
	grep -q "warning: metrics: .note. is not a number" err
'

test_expect_success 'params reach the command typed: numbers stay numbers' '
	tr -d " \t\n" <seen-params.json >p &&
	grep -q "\"lr\":0.1" p && grep -q "\"n\":3" p && grep -q "\"name\":\"foo\"" p &&
	grep -q "\"flag\":true" p && grep -q "\"big\":1000" p
'

test_expect_success 'the run record: command, params, inputs, git, outputs, metrics, log' '
	mlops --json train show c >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"type\":\"run\"" r && grep -q "\"command\":\[\"./contract.sh\"\]" r &&
	grep -q "\"lr\":0.1" r && grep -q "\"status\":\"succeeded\"" r &&
	grep -q "\"exit_status\":0" r && grep -q "\"git_dirty\":false" r &&
	grep -q "\"git_commit\":\"$(git rev-parse HEAD)\"" r &&
	grep -q "\"inputs\":\[{\"name\":\"my-data\",\"record\":\"[0-9a-f]\{64\}\",\"type\":\"dataset\",\"version\":1}\]" r &&
	grep -q "\"metrics\":{\"acc\":0.75,\"val\":{\"loss\":0.5}}" r &&
	grep -q "\"outputs\":{\"files\":2,\"id\":\"[0-9a-f]\{64\}\",\"kind\":\"tree\"" r &&
	grep -q "\"log\":\"[0-9a-f]\{64\}\"" r &&
	grep -q "\"cache_key\":\"[0-9a-f]\{64\}\"" r &&
	grep -q "\"run_id\":\"$(cat seen-id)\"" r &&
	grep -q "\"peak_rss_kb\":[1-9]" r && grep -q "\"host\":\"$(hostname)\"" r &&
	id=$(json_field id <r) &&
	test "$(cat .mlops/refs/runs/$id)" = "$id"
'

test_expect_success 'log shows the stored output; show lists the outputs' '
	mlops train log c >log &&
	grep -q "to stdout" log && grep -q "to stderr" log &&
	mlops train show c >show &&
	grep -q "model.bin" show && grep -q "sub/f" show && grep -q "val.loss" show
'

test_expect_success 'the same command, params, inputs and code is a cache hit' '
	mlops train -n c -d my-data -p lr=0.1 -p n=3 -p name=foo -p flag=true -p big=1e3 \
		-o restored -- ./contract.sh >out 2>err &&
	grep -q "cached" out && ! grep -q "to stdout" out &&
	test "$(cat restored/model.bin)" = model && test "$(cat restored/sub/f)" = 1 &&
	test $(mlops train list | wc -l) = 1
'

test_expect_success '--force runs again; other params miss the cache' '
	mlops train -n c -d my-data -p lr=0.1 -p n=3 -p name=foo -p flag=true -p big=1e3 --force \
		-- ./contract.sh >out 2>/dev/null &&
	grep -q "to stdout" out &&
	mlops train -n c -d my-data -p lr=0.2 -- ./contract.sh >out 2>/dev/null &&
	grep -q "to stdout" out &&
	test $(mlops train list --name c | wc -l) = 3
'

test_expect_success 'a failing command is recorded as failed and its status is ours' '
	test_expect_code 3 mlops train -n bad -- sh -c "echo before failing; exit 3" >out &&
	grep -q "before failing" out && grep -q "bad: failed" out &&
	mlops --json train show bad | tr -d " \t\n" >r &&
	grep -q "\"status\":\"failed\"" r && grep -q "\"exit_status\":3" r &&
	mlops train log bad | grep -q "before failing" &&
	test_expect_code 3 mlops train -n bad -- sh -c "echo again; exit 3" >out &&
	grep -q again out
'

test_expect_success 'a dirty work tree is recorded with a diff that restores the code' '
	echo "# a change" >>contract.sh && echo new >untracked.txt &&
	mlops train -n dirty -d my-data -- ./contract.sh >/dev/null 2>&1 &&
	mlops --json train show dirty | tr -d " \t\n" >r &&
	grep -q "\"git_dirty\":true" r && grep -q "\"git_diff\":\"[0-9a-f]\{64\}\"" r &&
	mlops train show --diff dirty >../patch &&
	grep -q "^+# a change" ../patch && grep -q "^+new" ../patch &&
	! grep -q mlops.lock ../patch &&
	cp contract.sh ../want && git stash -q -u && ! grep -q "a change" contract.sh &&
	! test -e untracked.txt &&
	git apply ../patch && test_cmp ../want contract.sh && test "$(cat untracked.txt)" = new &&
	git checkout -q contract.sh && rm -f untracked.txt && git stash drop -q
'

test_expect_success 'changed code misses the cache' '
	echo "# another" >>contract.sh &&
	mlops train -n c -d my-data -p lr=0.2 -- ./contract.sh >out 2>/dev/null &&
	grep -q "to stdout" out && git checkout -q contract.sh
'

test_expect_success 'an interrupted command is recorded as interrupted' '
	test_expect_code 130 mlops train -n intr -- sh -c "kill -INT \$PPID; exec sleep 5" >out &&
	mlops --json train show intr | tr -d " \t\n" >r &&
	grep -q "\"status\":\"interrupted\"" r
'

test_expect_success 'gc removes what killed commands left in .mlops/tmp, and nothing in use' '
	h=$(hostname | tr -c "A-Za-z0-9.\n-" "_") && t=.mlops/tmp &&
	mkdir -p $t/run-$h-999999999-dead01/output/sub && echo x >$t/run-$h-999999999-dead01/output/sub/f &&
	mkdir $t/import-$h-999999999-dead02 $t/baseline-$h-999999999-dead03 \
		$t/monitor-$h-999999999-dead04 &&
	mkdir $t/run-$h-$$-live01 $t/run-other.host-999999999-away01 $t/run-abcdef &&
	mlops -q gc &&
	! test -e $t/run-$h-999999999-dead01 && ! test -e $t/import-$h-999999999-dead02 &&
	! test -e $t/baseline-$h-999999999-dead03 && ! test -e $t/monitor-$h-999999999-dead04 &&
	test -d $t/run-$h-$$-live01 && test -d $t/run-other.host-999999999-away01 &&
	test -d $t/run-abcdef &&
	rm -rf $t/run-$h-$$-live01 $t/run-other.host-999999999-away01 $t/run-abcdef
'

test_expect_success 'SIGKILL during a run leaves a working repository and no run' '
	cat >slow.sh <<-\EOF &&
	#!/bin/sh
	echo $$ >"$(dirname "$0")/slow.pid"
	exec sleep 30
	EOF
	chmod +x slow.sh && rm -f slow.pid &&
	{ "$MLOPS_BIN" train -n killed -- ./slow.sh >/dev/null 2>&1 & } &&
	pid=$! && i=0 && while ! test -s slow.pid && test $i -lt 100; do sleep 0.1; i=$((i + 1)); done &&
	kill -9 $pid && kill $(cat slow.pid) && { wait $pid 2>/dev/null; true; } &&
	test_expect_code 3 mlops train show killed &&
	ls .mlops/tmp | grep -q "^run-" &&
	mlops train -n after -- true >/dev/null &&
	! ls .mlops/tmp | grep -q "^run-" &&
	for r in .mlops/refs/runs/*; do
		id=$(cat $r) && test -e .mlops/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)* || return 1
	done
'

test_expect_success 'list, list --name, --json' '
	mlops train list >l && test $(grep -c "^r-" l) -ge 6 &&
	mlops train list --name bad >l && test $(wc -l <l) = 2 && grep -q failed l &&
	mlops --json train list >j && grep -q "\"run\":[[:space:]]*\"r-" j &&
	mlops train list --json --name nosuch >j && test "$(tr -d " \n\t" <j)" = "[]"
'

test_expect_success 'compare shows params and metrics side by side, differences marked' '
	ids=$(mlops --json train list --name c | sed -n "s/.*\"run\":[[:space:]]*\"\(r-[0-9a-f]*\)\".*/\1/p" | tail -n 3) &&
	mlops train compare $ids >cmp &&
	grep -q "^\* params.lr  *0.2  *0.1  *0.1 *$" cmp &&
	grep -q "^\* params.n  *-  *3  *3 *$" cmp &&
	grep -q "^  metrics.acc  *0.75  *0.75  *0.75 *$" cmp &&
	grep -q "^  metrics.val.loss  *0.5  *0.5  *0.5 *$" cmp &&
	mlops train compare --json $ids | tr -d " \t\n" >j &&
	grep -q "{\"key\":\"params.lr\",\"values\":\[0.2,0.1,0.1\],\"differs\":true}" j &&
	grep -q "{\"key\":\"metrics.acc\",\"values\":\[0.75,0.75,0.75\],\"differs\":false}" j &&
	test_expect_code 2 mlops train compare r-0000 2>err
'

test_expect_success 'compare: every column starts where its header does, however long a value is' '
	mlops -q train -n wide -p note=short -- true &&
	mlops -q train -n wide -p note=a-parameter-value-longer-than-any-column -- true &&
	mlops -q train -n wide-and-a-run-name-longer-than-the-key-column -p note=x -- true &&
	ids=$(mlops --json train list | sed -n "s/.*\"run\":[[:space:]]*\"\(r-[0-9a-f]*\)\".*/\1/p" | head -n 3) &&
	mlops train compare $ids >cmp && grep -q "a-parameter-value-longer-than-any-column" cmp &&
	for r in $(sed -n 1p cmp); do
		col=$(sed -n 1p cmp | awk -v r=$r "{ print index(\$0, r) }") &&
		awk -v c=$col "NR > 1 && substr(\$0, c - 2, 2) != \"  \" { bad = 1 } END { exit bad }" cmp || return 1
	done
'

test_expect_success 'run revisions: r-<prefix>, names, errors' '
	id=$(cat .mlops/refs/runs/* | head -n 1) &&
	mlops train show r-$(echo $id | cut -c1-6) >out && grep -q "^run $id" out &&
	test_expect_code 3 mlops train show r-ffffffffffff 2>err && grep -q "not found" err &&
	test_expect_code 3 mlops train show nosuch 2>err &&
	test_expect_code 2 mlops train show "bad name" 2>err
'

test_expect_success 'an ambiguous run prefix lists the candidates' '
	id=$(cat .mlops/refs/runs/* | head -n 1) &&
	fake=$(echo $id | cut -c1-63)$(test "$(echo $id | cut -c64)" = 0 && echo 1 || echo 0) &&
	echo $id >.mlops/refs/runs/$fake &&
	test_expect_code 3 mlops train show r-$(echo $id | cut -c1-10) 2>err &&
	grep -q "ambiguous" err && grep -q "r-$(echo $id | cut -c1-12)" err &&
	rm .mlops/refs/runs/$fake
'

test_expect_success 'unknown inputs and commands are errors and record nothing' '
	n=$(ls .mlops/refs/runs | wc -l) &&
	test_expect_code 3 mlops train -d nosuch -- true 2>err && grep -q "dataset .nosuch. not found" err &&
	! grep -q hint: err &&
	test_expect_code 3 mlops train -f feats -- true 2>err && grep -q "feature set .feats. not found" err &&
	! grep -q hint: err &&
	test_expect_code 3 mlops train -- no-such-program-xyz 2>err && grep -q "unable to run" err &&
	grep -q "^hint: the command runs with execvp" err &&
	test_expect_code 3 mlops train -d my-data -- no-such-program-xyz 2>err &&
	grep -q "unable to run" err && grep -q "^hint: the command runs with execvp" err &&
	test_expect_code 2 mlops train 2>err && grep -q usage err &&
	test_expect_code 2 mlops train -p novalue -- true 2>err &&
	test "$(ls .mlops/refs/runs | wc -l)" = $n
'

test_expect_success 'no shell: arguments reach the command as they are' '
	mlops train -n args -- printf "%s|" "a b" "\$HOME" ";" >out &&
	grep -q "^a b|\$HOME|;|" out
'

# A sweep: score = a * (2 if b is y else 1); the best is a=3, b=y.
cat >sweep.sh <<'EOF'
#!/bin/sh
a=$(tr -d ' \n\t' <"$MLOPS_PARAMS" | sed 's/.*"a":\([0-9]*\).*/\1/')
b=$(tr -d ' \n\t' <"$MLOPS_PARAMS" | sed 's/.*"b":"\([a-z]*\)".*/\1/')
m=1; [ "$b" = y ] && m=2
# Each point notes when it starts and ends in $MARKS (when set; outside the
# work tree, whose changes are part of a run's code), and waits
# there (up to 20 s) for a second point to have started: under -j 2 the first
# two run together however loaded the machine is.
if [ -n "${MARKS:-}" ]; then
	echo "$(date +%s%N) 1" >"$MARKS/start.$a$b"
	n=0
	while [ $(ls "$MARKS" | grep -c "^start") -lt 2 ] && [ $n -lt 200 ]; do
		sleep 0.1; n=$((n + 1))
	done
	[ $n -lt 200 ] && touch "$MARKS/partner.$a$b"
else
	sleep 0.3
fi
echo "{\"score\": $((a * m))}" >"$MLOPS_METRICS"
[ -z "${MARKS:-}" ] || echo "$(date +%s%N) -1" >"$MARKS/end.$a$b"
EOF
chmod +x sweep.sh
# Most points running at once, from the start and end lines in folder $1
# (an end sorts before a start of the same nanosecond).
most_at_once() {
	cat "$1"/start.* "$1"/end.* | sort -n -k1,1 -k2,2n |
		awk "{ n += \$2; if (n > m) m = n } END { print m }"
}

test_expect_success 'a sweep of 4 points, 2 at a time, ranked with the best marked' '
	rm -rf "$TRASH/marks" && mkdir "$TRASH/marks" &&
	MARKS=$TRASH/marks mlops train -n sw --sweep a=1,3 --sweep b=x,y -j 2 --metric score -- ./sweep.sh >out &&
	test $(grep -c "^[1-4] .*succeeded" out) = 4 &&
	grep -q "^1 .*3  *y  *6  <- best" out && grep -q "^4 .*1  *x  *1$" out &&
	test $(ls "$TRASH"/marks/partner.* | wc -l) = 4 && test "$(most_at_once "$TRASH/marks")" = 2 &&
	test $(mlops train list --name sw | wc -l) = 4
'

test_expect_success 'a sweep shares the cache; --json gives the ranking' '
	mlops train -n sw --sweep a=1,3 --sweep b=x,y -j 2 --metric score --minimize --json -- ./sweep.sh >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"direction\":\"minimize\"" r &&
	test $(grep -o "\"cached\":true" r | wc -l) = 4 &&
	grep -q "\"best\":\"r-" r &&
	sed "s/.*\"runs\":\[//" r | grep -q "^{.*\"score\":1}.*\"rank\":1"
'

# Built-in trainers.
# y = 2 x1 - 3 x2 + 1 exactly: on standardised features the coefficients
# are 2 std(x1) = 2 sqrt(2) and -3 std(x2) = -3 sqrt(0.24), the intercept
# mean(y) = 5.2.
printf 'x1,x2,y\n1,1,0\n2,0,5\n3,1,4\n4,0,9\n5,1,8\n' >tiny.csv

coefs() { tr -d " \t\n" <"$1" | sed 's/.*"coefficients":\[\[\([^]]*\)\]\].*/\1/'; }
near() { awk -v a="$1" -v b="$2" -v t="$3" "BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }"; }

test_expect_success 'builtin linear recovers known coefficients' '
	mkdir tiny && cp tiny.csv tiny/ && mlops -q dataset add tiny >/dev/null &&
	mlops train --builtin linear -d tiny --target y --valid-frac 0 -p alpha=0 -o lin >out &&
	grep -q "tiny-linear: succeeded" out &&
	c=$(coefs lin/model.json) &&
	near "$(echo $c | cut -d, -f1)" 2.8284271247461903 1e-9 &&
	near "$(echo $c | cut -d, -f2)" -1.4696938456699067 1e-9 &&
	tr -d " \t\n" <lin/model.json | grep -q "\"intercepts\":\[5.2\]" &&
	mlops --json train show tiny-linear | tr -d " \t\n" >r &&
	grep -q "\"builtin\":{\"converged\":true,\"kind\":\"linear\",\"seed\":0,\"target\":\"y\",\"valid_frac\":0}" r &&
	grep -q "\"params\":{\"alpha\":0}" r && grep -q "\"command\":\[\]" r &&
	grep -q "\"train_r2\":1" r
'

test_expect_success 'builtin logistic on breast cancer matches scikit-learn' '
	mkdir bc && cp "$TEST_ROOT/tests/fixtures/learn/breast_cancer.csv" bc/ &&
	mlops -q dataset add bc --name cancer >/dev/null &&
	mlops --json train --builtin logistic -d cancer --target target --seed 42 >j &&
	tr -d " \t\n" <j >r &&
	acc=$(sed "s/.*\"accuracy\":\([0-9.e-]*\).*/\1/" r) &&
	near $acc 0.9824561403508771 1e-12 &&
	ll=$(sed "s/.*\"log_loss\":\([0-9.e-]*\).*/\1/" r) &&
	near $ll 0.05834462937514127 1e-4 &&
	auc=$(sed "s/.*\"roc_auc\":\([0-9.e-]*\).*/\1/" r) &&
	near $auc 0.9987441130298272 1e-6 &&
	grep -q "\"f1_macro\":" r && grep -q "\"outputs\":{\"files\":1" r
'

test_expect_success 'builtin auto picks the task and ranks a regularisation path' '
	mlops train --builtin auto -d cancer --target target --seed 42 >out &&
	grep -q "logistic regression over C" out &&
	test $(grep -c "succeeded" out) = 5 && grep -q "<- best" out &&
	printf "a,b\n" >reg.csv && for i in $(seq 1 40); do echo "$i,$i.5" >>reg.csv; done &&
	mkdir reg && mv reg.csv reg/ && mlops -q dataset add reg >/dev/null &&
	mlops train --builtin auto -d reg --target b >out &&
	grep -q "ridge regression" out && grep -q "rmse" out
'

test_expect_success 'builtin errors: unknown target, unknown param, no dataset' '
	test_expect_code 3 mlops train --builtin linear -d tiny --target nope 2>err &&
	grep -q "nope" err &&
	test_expect_code 2 mlops train --builtin linear -d tiny --target y -p C=1 2>err &&
	grep -q "unknown parameter .C." err &&
	test_expect_code 2 mlops train --builtin linear --target y 2>err &&
	test_expect_code 2 mlops train --builtin forest -d tiny --target y 2>err
'

# The examples.
test_expect_success 'the shell-script example' '
	mlops train -d cancer -p bins=10 -- "$TEST_ROOT/examples/train/train.sh" -o sh-out >out &&
	grep -q "wrote means.json for 569 rows" out &&
	mlops --json train show train | tr -d " \t\n" | grep -q "\"rows\":569"
'

if /usr/bin/python3 -c "import sklearn" 2>/dev/null; then
	test_expect_success 'the scikit-learn example' '
		mlops train -d cancer -p C=1.0 -p seed=42 -o py-out -- /usr/bin/python3 \
			"$TEST_ROOT/examples/train/train.py" >out &&
		grep -q "validation accuracy 0.9" out && test -s py-out/model.pkl &&
		mlops --json train show train | tr -d " \t\n" >r &&
		grep -q "\"accuracy\":0.9" r && grep -q "\"train\":{\"accuracy\":" r
	'
else
	test_skip "the scikit-learn example: /usr/bin/python3 has no sklearn"
fi

test_expect_success 'every subcommand answers -h outside a repository' '
	mkdir -p /tmp/mlops-no-repo-$$ && cd /tmp/mlops-no-repo-$$ &&
	for s in list show compare log; do
		mlops train $s -h >out || return 1
		grep -q "usage: mlops train $s" out || return 1
	done && mlops train -h >out && grep -q -- "--sweep" out;
	rc=$?; cd / && rm -rf /tmp/mlops-no-repo-$$; return $rc
'

test_expect_success 'a feature set is an input: a command and a built-in trainer' '
	mkdir fs && cd fs && git init -q && mlops -q init &&
	printf "id,t,x,y\na,2024-01-01,1,0\nb,2024-01-02,2,0\nc,2024-01-03,3,1\nd,2024-01-04,4,1\ne,2024-01-05,5,1\nf,2024-01-06,0,0\n" >src.csv &&
	mlops -q dataset add src.csv --name src &&
	printf "{\"name\": \"fx\", \"source\": \"src\", \"entity\": \"id\", \"timestamp\": \"t\", \"features\": [{\"name\": \"x\", \"column\": \"x\", \"transform\": \"minmax\"}, {\"name\": \"y\", \"column\": \"y\", \"transform\": \"identity\"}]}" >fx.json &&
	mlops -q feature add fx.json && mlops -q feature materialize fx &&
	mlops train -n peek -f fx -- sh -c "head -n 1 \"\$MLOPS_INPUT_FX\"" >out &&
	grep -q "^id,t,x,y" out &&
	mlops --json train show peek >j && grep -q "\"type\":[[:space:]]*\"feature-set\"" j &&
	mlops train --builtin logistic -f fx --target y --valid-frac 0 -p exclude=id,t >out &&
	grep -q "succeeded" out &&
	test_expect_code 2 mlops train --builtin logistic -f fx --target y -p exclude=nosuch 2>err &&
	grep -q "no column .nosuch." err &&
	test_expect_code 3 mlops train -f nofs -- true 2>err
'

# Fixes from the audit of mlops train.
test_expect_success 'the cache key holds the directory the command runs in' '
	mkdir -p exp/a exp/b &&
	printf "#!/bin/sh\necho from-a\n" >exp/a/train.sh &&
	printf "#!/bin/sh\necho from-b\n" >exp/b/train.sh &&
	chmod +x exp/a/train.sh exp/b/train.sh &&
	git add exp && git commit -q -m exp &&
	(cd exp/a && mlops train -n cw -- ./train.sh >../../out) && grep -q from-a out &&
	(cd exp/b && mlops train -n cw -- ./train.sh >../../out) && grep -q from-b out &&
	! grep -q cached out &&
	(cd exp/a && mlops train -n cw -- ./train.sh >../../out) && grep -q cached out &&
	mlops --json train show cw | tr -d " \t\n" >r && grep -q "\"cwd\":\"exp/b\"" r &&
	mlops train -n top -- true >/dev/null &&
	mlops --json train show top | tr -d " \t\n" | grep -q "\"cwd\":\".\""
'

test_expect_success 'a signal while the inputs are copied stops the run before it starts' '
	head -c 67108864 /dev/urandom >big.bin && mlops -q dataset add big.bin && rm big.bin &&
	git add .gitignore mlops.lock && git commit -q -m big &&
	for s in INT:130 TERM:143; do
		sig=${s%:*} &&
		# A background job of sh ignores SIGINT, which mlops respects: give it the default.
		{ env --default-signal=INT,TERM "$MLOPS_BIN" train -n early -d big -- sleep 2 >/dev/null 2>err & } &&
		pid=$! && i=0 &&
		until ls -d .mlops/tmp/run-* >/dev/null 2>&1 || test $i -ge 20000; do i=$((i + 1)); done &&
		kill -STOP $pid && kill -$sig $pid && kill -CONT $pid
		wait $pid
		rc=$?
		echo "$sig: $rc" && cat err &&
		test $rc = ${s#*:} &&
		grep -q "interrupted before the command started" err &&
		test_expect_code 3 mlops train show early 2>/dev/null &&
		! ls .mlops/tmp | grep -q "^run-" || return 1
	done
'

test_expect_success 'a signal ignored when train starts (nohup) stays ignored, by the command too' '
	( trap "" HUP INT; exec "$MLOPS_BIN" train -n nohup -- sh -c "sleep 1; echo done" >out 2>&1 ) &
	pid=$! && sleep 0.3 && kill -HUP $pid && kill -INT $pid &&
	wait $pid && grep -q "succeeded" out &&
	mlops train log nohup >log && grep -q "^done$" log
'

test_expect_success 'an interrupted sweep exits 128 + the signal, not 125' '
	cat >stop.sh <<-\EOF &&
	#!/bin/sh
	a=$(tr -dc 0-9 <"$MLOPS_PARAMS")
	test "$a" = 1 && kill -$SIG $PPID && exec sleep 5
	exit 0
	EOF
	chmod +x stop.sh && git add stop.sh && git commit -q -m stop &&
	SIG=INT test_expect_code 130 mlops train -n stop --sweep a=1,2,3 -- ./stop.sh >out &&
	grep -q "not run: the sweep was interrupted" out &&
	SIG=TERM test_expect_code 143 mlops train -n stop --sweep a=1,2,3 -- ./stop.sh >out &&
	test $(grep -c "not run" out) = 2
'

# Whether a process runs (a zombie left to an init that does not reap is gone).
running () {
	kill -0 "$1" 2>/dev/null && ! grep -q "^[0-9]* ([^)]*) Z" /proc/"$1"/stat 2>/dev/null
}

# Start mlops train in the background with no controlling terminal (so the
# command gets its own process group), wait for the pid file, send it $1.
train_and_signal () {
	sig=$1 && shift && rm -f gc.pid &&
	{ setsid "$MLOPS_BIN" train "$@" >/dev/null 2>&1 & } &&
	pid=$! && i=0 && while ! test -s gc.pid && test $i -lt 100; do sleep 0.1; i=$((i + 1)); done &&
	test -s gc.pid && sleep 0.2 && kill -$sig $pid
	wait $pid
	echo $? >rc
}

# Wait up to 5 s for every pid in gc.pid to be gone.
gone_soon () {
	i=0 && while test $i -lt 50; do
		alive= && for p in $(cat gc.pid); do if running $p; then alive=$p; fi; done &&
		test -z "$alive" && return 0
		sleep 0.1; i=$((i + 1))
	done
	echo "still running: $alive" && return 1
}

test_expect_success 'SIGTERM to mlops alone stops the whole command, grandchildren included' '
	train_and_signal TERM -n orphan -- sh -c "sleep 30 & echo \$! >>gc.pid; wait" &&
	test "$(cat rc)" = 143 && gone_soon &&
	mlops --json train show orphan | tr -d " \t\n" >r && grep -q "\"status\":\"interrupted\"" r
'

test_expect_success 'a grandchild that ignores SIGTERM is killed after a grace' '
	train_and_signal TERM -n stubborn -- sh -c "(trap \"\" TERM; exec sleep 30) & echo \$! >>gc.pid; wait" &&
	test "$(cat rc)" = 143 && gone_soon
'

test_expect_success 'SIGHUP to a parallel sweep stops every point and its children' '
	train_and_signal HUP -n orphans -j 2 --sweep a=1,2 -- sh -c "sleep 30 & echo \$! >>gc.pid; wait" &&
	test "$(cat rc)" = 129 && sleep 0.3 && gone_soon
'

# At a terminal: a pty (python3) whose session runs tty.sh, which runs
# mlops train in the foreground, so that the command stays in the group of
# mlops.  pty-run.py sends SIGTERM to mlops alone (term) or types Ctrl-C
# (intr) once the command has written gc.pid, and prints what the terminal
# showed.  tty.sh reports what of the command is left once mlops has ended
# and whether the terminal is still in the foreground group of the shell.
cat >pty-run.py <<'EOF'
import os, pty, select, signal, sys, time
action, trigger, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

def mlops_pid():
    for d in os.listdir("/proc"):
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        if int(rest[1]) == pid and s[s.index("(") + 1:s.rindex(")")] == "mlops":
            return int(d)
    return None

out, acted, status, deadline = b"", False, None, time.time() + 30
while status is None and time.time() < deadline:
    if select.select([fd], [], [], 0.05)[0]:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
    if not acted and os.path.exists(trigger) and os.path.getsize(trigger) > 0:
        time.sleep(0.3)
        if action == "term":
            os.kill(mlops_pid(), signal.SIGTERM)
        else:
            os.write(fd, b"\x03")
        acted = True
    w, st = os.waitpid(pid, os.WNOHANG)
    if w == pid:
        status = st
while select.select([fd], [], [], 0.1)[0]:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
sys.stdout.write(out.decode(errors="replace"))
sys.exit(0 if status is not None else 124)
EOF
cat >tty.sh <<'EOF'
#!/bin/sh
trap : INT
"$MLOPS_BIN" train "$@"
echo "rc=$?"
for p in $(cat gc.pid); do
	if kill -0 $p 2>/dev/null && ! grep -q "^[0-9]* ([^)]*) Z" /proc/$p/stat; then echo "left: $p"; fi
done
test "$(cut -d" " -f8 /proc/$$/stat)" = "$(cut -d" " -f5 /proc/$$/stat)" && echo "terminal: ours"
EOF
cat >ttyfg.sh <<'EOF'
#!/bin/sh
# A command that is in the foreground group of its terminal writes its pid and waits.
test "$(cut -d" " -f8 /proc/$$/stat)" = "$(cut -d" " -f5 /proc/$$/stat)" || exit 7
echo $$ >>gc.pid
exec sleep 30
EOF
chmod +x tty.sh ttyfg.sh

if test_have_cmd python3 && test -r /proc/self/stat; then
	test_expect_success 'at a terminal, SIGTERM to mlops alone stops the command and what it started' '
		rm -f gc.pid &&
		python3 pty-run.py term gc.pid sh ./tty.sh -n tty-term -- \
			sh -c "sleep 30 & echo \$! >>gc.pid; (trap \"\" TERM; exec sleep 30) & echo \$! >>gc.pid; wait" >out &&
		grep -q "^rc=143" out && ! grep -q "^left" out && grep -q "^terminal: ours" out &&
		mlops --json train show tty-term | tr -d " \t\n" | grep -q "\"status\":\"interrupted\""
	'
	test_expect_success 'at a terminal, the command is in the foreground and Ctrl-C reaches it' '
		rm -f gc.pid &&
		python3 pty-run.py intr gc.pid sh ./tty.sh -n tty-int -- ./ttyfg.sh >out &&
		grep -q "^rc=130" out && ! grep -q "^left" out && grep -q "^terminal: ours" out &&
		mlops --json train show tty-int | tr -d " \t\n" | grep -q "\"status\":\"interrupted\""
	'
else
	test_skip "at a terminal: no python3 or no /proc"
	test_skip "at a terminal: no python3 or no /proc"
fi

test_expect_success 'a FIFO or socket among the outputs is left out, the run kept' '
	mlops train -n fifo -- sh -c "mkfifo \$MLOPS_OUTPUT/fifo; mkdir \$MLOPS_OUTPUT/d; mkfifo \$MLOPS_OUTPUT/d/p; echo x >\$MLOPS_OUTPUT/f; echo done" >out 2>err &&
	grep -q "fifo: succeeded" out &&
	grep -q "warning: outputs: .fifo. is a FIFO" err && grep -q "warning: outputs: .d/p. is a FIFO" err &&
	mlops train show fifo >show && grep -q "B  f$" show && ! grep -q "B  .*fifo$" show &&
	mlops train log fifo | grep -q done
'

test_expect_success 'MLOPS_OUTPUT replaced by a link is not stored; the run is kept' '
	mkdir -p linked && echo secret >linked/s &&
	mlops train -n outlink -- sh -c "rmdir \$MLOPS_OUTPUT && ln -s $PWD/linked \$MLOPS_OUTPUT" >out 2>err &&
	grep -q "outlink: succeeded" out &&
	grep -q "warning: outputs: .*replaced .* with a symbolic link" err &&
	mlops --json train show outlink | tr -d " \t\n" >r && ! grep -q "\"outputs\"" r &&
	mlops train -n outlink -o ../got -- sh -c "rmdir \$MLOPS_OUTPUT && ln -s $PWD/linked \$MLOPS_OUTPUT" >out &&
	grep -q cached out && ! test -e ../got/s
'

test_expect_success '-o in the work tree is added to .gitignore: the next run is a cache hit' '
	mkdir o5 && cd o5 && git init -q && mlops -q init && printf "/out\n/err\n" >.gitignore &&
	git add -A && git commit -q -m init &&
	mlops train -n m -o model/ -- sh -c "echo m >\$MLOPS_OUTPUT/m.bin" >out &&
	grep -q "^/model$" .gitignore && test "$(cat model/m.bin)" = m &&
	test "$(git status --porcelain)" = " M .gitignore" &&
	mlops train -n m -o model/ -- sh -c "echo m >\$MLOPS_OUTPUT/m.bin" >out && grep -q cached out &&
	git commit -q -am ignore &&
	mlops train -n m -o model/ -- sh -c "echo m >\$MLOPS_OUTPUT/m.bin" >out && ! grep -q cached out &&
	mlops --json train show m | tr -d " \t\n" | grep -q "\"git_dirty\":false" &&
	mlops train -n m -o model/ -- sh -c "echo m >\$MLOPS_OUTPUT/m.bin" >out && grep -q cached out &&
	mkdir kept && echo k >kept/k && git add kept && git commit -q -m kept &&
	mlops train -n k -o kept -- true >out && ! grep -q "^/kept" .gitignore
'

test_expect_success '-o naming a file is refused before anything runs' '
	echo x >afile && n=$(ls .mlops/refs/runs | wc -l) &&
	test_expect_code 2 mlops train -n af -o afile -- sh -c "echo ran >ran" 2>err &&
	grep -q "afile. is not a directory" err && ! test -e ran &&
	test_expect_code 2 mlops train -n af -o afile/sub -- true 2>err &&
	test "$(ls .mlops/refs/runs | wc -l)" = $n
'

test_expect_success 'metrics: NaN and Infinity, each bad value, duplicates, trailing text' '
	cat >nan.sh <<-\EOF &&
	#!/bin/sh
	printf "{\"a\": NaN, \"b\": 1, \"c\": -Infinity, \"e\": {\"f\": \"x\"}, \"b\": 2, \"g\": {\"h\": Infinity, \"i\": 3}}" >"$MLOPS_METRICS"
	EOF
	chmod +x nan.sh &&
	mlops train -n nan -- ./nan.sh >out 2>err &&
	grep -q "warning: metrics: .a. is NaN, not a finite number" err &&
	grep -q "warning: metrics: .c. is -Infinity" err &&
	grep -q "warning: metrics: .g.h. is Infinity" err &&
	grep -q "warning: metrics: .e.f. is not a number" err &&
	grep -q "warning: metrics: .b. appears more than once; the last value was kept" err &&
	mlops --json train show nan | tr -d " \t\n" | grep -q "\"metrics\":{\"b\":2,\"g\":{\"i\":3}}" &&
	mlops train -n trail -- sh -c "echo \"{\\\"a\\\": 1} x\" >\$MLOPS_METRICS" >out 2>err &&
	grep -q "warning: metrics: .*not one JSON object" err &&
	mlops --json train show trail | tr -d " \t\n" | grep -q "\"metrics\":{}"
'

test_expect_success 'metrics: nested members are dotted names everywhere; one name twice keeps the last' '
	cat >nest.sh <<-\EOF &&
	#!/bin/sh
	case $(tr -dc 0-9 <"$MLOPS_PARAMS") in
	1) printf "{\"a\": {\"b\": 1}}" ;;
	2) printf "{\"a\": 2}" ;;
	3) printf "{\"a.b\": 1, \"a\": {\"b\": 2}, \"c\": {\"d\": 3}, \"c.d\": 4, \"e\": {\"f\": 5}}" ;;
	esac >"$MLOPS_METRICS"
	EOF
	chmod +x nest.sh &&
	mlops train -n nest1 -p n=1 -- ./nest.sh >out && mlops train -n nest2 -p n=2 -- ./nest.sh >out &&
	mlops train compare nest1 nest2 >cmp && ! grep -q "{" cmp &&
	grep -q "^\* metrics.a.b  *1  *- *$" cmp && grep -q "^\* metrics.a  *-  *2 *$" cmp &&
	mlops train compare --json nest1 nest2 | tr -d " \t\n" >j &&
	grep -q "{\"key\":\"metrics.a.b\",\"values\":\[1,null\],\"differs\":true}" j &&
	grep -q "{\"key\":\"metrics.a\",\"values\":\[null,2\],\"differs\":true}" j &&
	mlops train -n nest3 -p n=3 -- ./nest.sh >out 2>err &&
	grep -q "warning: metrics: .a\.b. appears more than once" err &&
	grep -q "warning: metrics: .c\.d. appears more than once" err &&
	mlops --json train show nest3 | tr -d " \t\n" >j &&
	grep -q "\"metrics\":{\"a\":{\"b\":2},\"c.d\":4,\"e\":{\"f\":5}}" j &&
	mlops train show nest3 >show && test $(grep -c "^  a\.b " show) = 1 &&
	grep -q "^  a\.b  *2$" show && grep -q "^  c\.d  *4$" show && grep -q "^  e\.f  *5$" show &&
	mlops train compare nest1 nest3 >cmp && test $(grep -c "metrics\.a\.b " cmp) = 1 &&
	grep -q "^\* metrics.a.b  *1  *2 *$" cmp
'

test_expect_success 'control characters in param and metric names and values are quoted in tables' '
	cat >ctl.sh <<-\EOF &&
	#!/bin/sh
	printf "{\"m\\\\nn\": 1, \"\\\\u001b[31mred\": 3, \"del\\\\u007f\": 4, \"csi\\\\u009b\": 5}" >"$MLOPS_METRICS"
	EOF
	chmod +x ctl.sh &&
	mlops train -n ctl -p "$(printf "k\tx=v\ny")" -- ./ctl.sh >out &&
	mlops train -n ctl2 -p "$(printf "k\tx=1")" -- true >/dev/null &&
	esc=$(printf "\033") && del=$(printf "\177") &&
	! grep -q "$esc" out && grep -q "ctl: succeeded.*; \"\\\\033\[31mred\"=3 \"csi\\\\302\\\\233\"=5 \"del\\\\177\"=4 \"m\\\\nn\"=1$" out &&
	mlops train show ctl >show && ! grep -q "$esc" show && ! grep -q "$del" show &&
	grep -q "^  \"k\\\\tx\"  *\"v\\\\ny\"$" show && grep -q "^  \"m\\\\nn\"  *1$" show &&
	grep -q "^  \"\\\\033\[31mred\"  *3$" show && grep -q "^  \"del\\\\177\"  *4$" show &&
	grep -q "^  \"csi\\\\302\\\\233\"  *5$" show &&
	mlops train list --name ctl >l && test $(wc -l <l) = 1 && ! grep -q "$esc" l &&
	mlops train compare ctl2 ctl >cmp && ! grep -q "$esc" cmp &&
	grep -q "^\* \"params.k\\\\tx\"  *1  *\"v\\\\ny\"$" cmp &&
	grep -q "^\* \"metrics.m\\\\nn\"  *-  *1$" cmp &&
	test $(wc -l <cmp) = 11 &&
	mlops train compare --json ctl2 ctl | tr -d " \t\n" >j &&
	grep -q "{\"key\":\"params.k\\\\tx\",\"values\":\[1,\"v\\\\ny\"\]" j &&
	mlops train -n ctl3 --sweep "$(printf "s\tw")=1,2" -- true >sw &&
	grep -q "^rank .* \"s\\\\tw\"  *$" sw && ! grep -q "$(printf "\t")" sw
'

test_expect_success 'tables pad UTF-8 names and values by the columns they take, not their bytes' '
	mkdir utf && cd utf && git init -q && mlops -q init && git add -A && git commit -q -m init &&
	mlops train -n utf1 -p "ñandú=日本語" -- true >/dev/null &&
	mlops train -n utf2 -p "ñandú=x" -p "$(printf "k\tñ=1")" -- sh -c "echo {\\\"日本\\\":1} >\$MLOPS_METRICS" >/dev/null &&
	mlops train compare utf1 utf2 >cmp &&
	grep -qx "* params.ñandú   日本語      x" cmp && grep -qx "* metrics.日本   -           1" cmp && grep -qx "  status         succeeded   succeeded" cmp &&
	grep -qx "* \"params.k\\\\tñ\"  -           1" cmp &&
	mlops train show utf1 >show && grep -qx "  ñandú                    日本語" show &&
	mlops train show utf2 >show && grep -qx "  日本                     1" show
'

test_expect_success 'metrics: a FIFO or a link in place of the file is not waited on or followed' '
	timeout 20 "$MLOPS_BIN" train -n mfifo -- sh -c "rm -f \$MLOPS_METRICS; mkfifo \$MLOPS_METRICS" >out 2>err &&
	grep -q "mfifo: succeeded" out && grep -q "warning: metrics: .* a FIFO" err &&
	echo "{\"x\": 1}" >../outside.json &&
	mlops train -n mlink -- sh -c "ln -s $PWD/../outside.json \$MLOPS_METRICS" >out 2>err &&
	grep -q "warning: metrics: .* a symbolic link" err &&
	mlops --json train show mlink | tr -d " \t\n" | grep -q "\"metrics\":{}"
'

test_expect_success 'sweep options are checked: keys, values, directions, --metric and -j' '
	n=$(ls .mlops/refs/runs | wc -l) &&
	test_expect_code 2 mlops train --sweep a=1,2 --sweep a=3 -- ./sweep.sh 2>err &&
	grep -q "given twice" err &&
	test_expect_code 2 mlops train --sweep a=1,2 -p a=5 -- ./sweep.sh 2>err &&
	grep -q "both swept" err &&
	test_expect_code 2 mlops train --sweep a=1,,2 -- ./sweep.sh 2>err && grep -q "empty value" err &&
	test_expect_code 2 mlops train --sweep a=1, -- ./sweep.sh 2>err &&
	test_expect_code 2 mlops train --sweep a=7,7.0 -- ./sweep.sh 2>err && grep -q "given twice" err &&
	test_expect_code 2 mlops train --sweep a=1 --maximize --minimize -- ./sweep.sh 2>err &&
	test_expect_code 2 mlops train --metric score -- ./sweep.sh 2>err && grep -q "goes with --sweep" err &&
	test_expect_code 2 mlops train -j 2 -- ./sweep.sh 2>err &&
	test_expect_code 2 mlops train --minimize -- ./sweep.sh 2>err &&
	test_expect_code 2 mlops train --builtin auto -d tiny --target y -p alpha=3 2>err &&
	test "$(ls .mlops/refs/runs | wc -l)" = $n &&
	mlops train -n sw --sweep a=1,3 --sweep b=x,y --metric nosuch -- ./sweep.sh >out 2>err &&
	grep -q "warning: no point has the metric .nosuch." err
'

test_expect_success 'the default direction ignores case: ERROR is minimised' '
	cat >err.sh <<-\EOF &&
	#!/bin/sh
	a=$(tr -dc 0-9 <"$MLOPS_PARAMS")
	echo "{\"ERROR\": $a}" >"$MLOPS_METRICS"
	EOF
	chmod +x err.sh &&
	mlops --json train -n errs --sweep a=1,2 --metric ERROR -- ./err.sh >j &&
	tr -d " \t\n" <j | grep -q "\"direction\":\"minimize\""
'

test_expect_success 'a logistic regression that does not converge says so, and records it' '
	mlops train -n noconv --builtin logistic -d cancer --target target -p max_iter=2 >out 2>err &&
	grep -q "warning: logistic regression did not converge" err &&
	mlops --json train show noconv | tr -d " \t\n" | grep -q "\"builtin\":{\"converged\":false" &&
	mlops train show noconv | grep -q "did not converge" &&
	mlops train -n conv --builtin logistic -d cancer --target target >out 2>err &&
	! grep -q "converge" err
'

test_expect_success 'an exclude naming no column names the input, not a temporary path' '
	test_expect_code 2 mlops train --builtin linear -d tiny --target y -p exclude=nosuch 2>err &&
	grep -q "no column .nosuch. in .tiny@v1.$" err
'

test_expect_success 'params: only exact JSON numbers are numbers; null is a string' '
	mlops train -n ptype -p v=01 -p j=123456789012345678901 -p s=null -p h=0x10 -p d=.5 \
		-p lr=0.10 -p e=-2.5e-3 -p t=true -- true >/dev/null &&
	mlops --json train show ptype | tr -d " \t\n" >r &&
	grep -q "\"v\":\"01\"" r && grep -q "\"j\":\"123456789012345678901\"" r &&
	grep -q "\"s\":\"null\"" r && grep -q "\"h\":\"0x10\"" r && grep -q "\"d\":\".5\"" r &&
	grep -q "\"lr\":0.1[,}]" r && grep -q "\"e\":-0.0025" r && grep -q "\"t\":true" r
'

test_expect_success 'params: -0 and -0.0 are the number 0' '
	mlops train -n pzero -p a=-0 -p b=-0.0 -p c=-0e5 -p d=-00 -- true >/dev/null &&
	mlops --json train show pzero | tr -d " \t\n" >r &&
	grep -q "\"a\":0[,}]" r && grep -q "\"b\":0[,}]" r && grep -q "\"c\":0[,}]" r &&
	grep -q "\"d\":\"-00\"" r
'

test_expect_success 'default names: the script an interpreter runs, else the interpreter' '
	mlops train -- sh -c "echo one two three" >out && grep -q "^r-[0-9a-f]* sh: " out &&
	mlops train -- sh -ec "exit 0" >out && grep -q "^r-[0-9a-f]* sh: " out &&
	printf "exit 0\n" >ok.sh && git add ok.sh && git commit -q -m ok &&
	mlops train -- /usr/bin/env -u X sh ./ok.sh >out && grep -q "^r-[0-9a-f]* ok: " out &&
	mlops train -- bash -o errexit ok.sh >out && grep -q "^r-[0-9a-f]* ok: " out &&
	if test_have_cmd python3; then
		mlops train -- python3 -c "print(1)" >out && grep -q "^r-[0-9a-f]* python3: " out &&
		mlops train -- python3 -W ignore -m json.tool --help >out 2>&1 &&
		grep -q "^r-[0-9a-f]* tool: " out
	fi &&
	mlops -C fs train --builtin logistic -f fx --target y --valid-frac 0 -p exclude=id,t \
		--force >out &&
	grep -q "^r-[0-9a-f]* fx-logistic: " out
'

test_expect_success 'malformed run ids and names are usage errors' '
	test_expect_code 2 mlops train show r-00e 2>err && grep -q "not a run id" err &&
	test_expect_code 2 mlops train show r-zzzz 2>err &&
	test_expect_code 2 mlops train list --name "bad name" 2>err &&
	test_expect_code 2 mlops train -n r-abcd -- true 2>err && grep -q "cannot start with" err
'

test_expect_success 'compare marks a duration that differs' '
	mlops train -n d1 -- sleep 0.05 >/dev/null && mlops train -n d2 -- sleep 0.3 >/dev/null &&
	mlops train compare --json d1 d2 | tr -d " \t\n" >j &&
	grep -q "{\"key\":\"duration\",\"values\":\[[0-9.]*,[0-9.]*\],\"differs\":true}" j
'

test_expect_success 'a reader closing stdout early does not change the status of a recorded run' '
	{ mlops train -n piped -- sh -c "seq 1 200000" ; echo $? >rc; } | head -n 1 >out &&
	test "$(cat rc)" = 0 && test "$(cat out)" = 1 &&
	mlops --json train show piped | tr -d " \t\n" | grep -q "\"status\":\"succeeded\"" &&
	{ mlops train -n piped2 -- sh -c "seq 1 200000; exit 3" ; echo $? >rc; } | head -n 1 >out &&
	test "$(cat rc)" = 3
'

test_done
