#!/bin/sh
# mlops monitor check and log: a registered model's baseline against tables
# and serve logs; schema, thresholds from config and flags, labels, records,
# the HTML page, --on-drift, retraining with lineage.
. "$(dirname "$0")/lib.sh"
. "$TEST_ROOT/tests/cli/serve-lib.sh"

FIX="$TEST_ROOT/tests/fixtures/monitor"

json_field() { sed -n "s/.*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p" | head -n 1; }
json_number() { sed -n "s/.*\"$1\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" | head -n 1; }

# cat_object ID: the stored bytes of an object (raw, zstd or zlib).
cat_object() {
	_o=$(ls .mlops/objects/$(echo $1 | cut -c1-2)/$(echo $1 | cut -c3-64)*) &&
	case $_o in
	*.zst) zstd -dcq "$_o" ;;
	*.zz) /usr/bin/python3 -c "import sys,zlib;sys.stdout.write(zlib.decompress(open(sys.argv[1],\"rb\").read()).decode())" "$_o" ;;
	*) cat "$_o" ;;
	esac
}

mlops -q init
printf '%s\n' /out /err /j /r /*.html /*.json /got* /m /log* /requests* /serve.* /body /status /*.py /mq /mr >>.git/info/exclude
git add -A && git commit -q -m init
mkdir data && cp "$FIX/train.csv" data/train.csv

test_expect_success 'set up: a built-in model registered from a dataset' '
	mlops -q dataset add data/train.csv --name churn-data &&
	mlops --json train --builtin logistic -d churn-data --target y >j &&
	run=$(json_field run <j) &&
	mlops -q register churn --run "$run" &&
	git tag -l | grep -q "^churn@v0.0.1$"
'

test_expect_success 'no drift on a sample of the training data' '
	mlops monitor check churn --data "$FIX/same.csv" >out &&
	grep -q "^verdict: ok$" out &&
	grep -q "^x1  *ks " out && grep -q "^c  *chisquare " out &&
	grep -q "^(predictions) prediction  *z " out &&
	grep -q "^recorded as monitor/churn/" out
'

test_expect_success 'a shifted mean is detected and named' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/shifted.csv" >out &&
	grep -q "^x1  *ks  *[0-9.e-]*  *0.0500  *yes$" out &&
	grep -q "^x2  *ks .* no$" out &&
	grep -q "^verdict: drift$" out &&
	test_expect_code 1 mlops --json monitor check churn --data "$FIX/shifted.csv" >j &&
	grep -q "\"prediction_drift\":[[:space:]]*true" j
'

test_expect_success 'a changed variance is detected and named' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/variance.csv" >out &&
	grep -q "^x2  *ks .* yes$" out &&
	grep -q "^x1  *ks .* no$" out
'

test_expect_success 'a new category is detected, named and its values reported' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/newcat.csv" >out &&
	grep -q "^c  *chisquare .* yes$" out &&
	grep -q "^unseen categories in c ([0-9]* values): '"'"'d'"'"' ([0-9]*)$" out &&
	mlops --json monitor check churn --data "$FIX/newcat.csv" >j;
	tr -d " \t\n" <j | grep -q "\"new_categories\":\[{\"column\":\"c\",\"count\":[0-9]*,\"values\":\[\"d\"\]}\]"
'

test_expect_success 'a missing column is detected and named' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/nocol.csv" >out &&
	grep -q "^missing column: x2$" out &&
	grep -q "^x2  *missing .* yes  (missing)$" out &&
	grep -q "^predictions not compared: missing column .x2.$" out &&
	mlops --json monitor check churn --data "$FIX/nocol.csv" >j;
	grep -q "\"schema_drift\":[[:space:]]*true" j
'

test_expect_success 'an empty table has no rows (not a missing column)' '
	: >empty.csv &&
	mlops monitor check churn --data empty.csv >out 2>err &&
	grep -q "^predictions not compared: no rows$" out &&
	grep -q "^verdict: no_data$" out &&
	grep -q "no rows to check in .empty.csv." err &&
	! grep -q "missing column" out
'

test_expect_success 'infinities in a numeric column are non-finite numbers, not a type change' '
	sed -e "5s/^[^,]*,/inf,/" -e "6s/^[^,]*,/-Infinity,/" "$FIX/same.csv" >inf.csv &&
	mlops monitor check churn --data inf.csv >out &&
	grep -q "^non-finite values in x1: 2 " out &&
	! grep -q "type change" out && grep -q "^verdict: ok$" out &&
	mlops --json monitor check churn --data inf.csv >j &&
	tr -d " \t\n" <j | grep -q "\"current\":{\"count\":300,\"missing\":0,[^}]*\"non_finite\":2}" &&
	tr -d " \t\n" <j | grep -q "\"current_type\":\"float\""
'

test_expect_success 'a new column and a type change are reported' '
	sed -e "1s/$/,extra/" -e "2,\$s/$/,1/" -e "5s/^[^,]*,[^,]*,/0.1,oops,/" "$FIX/same.csv" >typed.csv &&
	test_expect_code 1 mlops monitor check churn --data typed.csv >out &&
	grep -q "^new column: extra$" out &&
	grep -q "^type change: x2 float -> categorical$" out &&
	grep -q "^predictions: 1 rows could not be predicted" out
'

test_expect_success 'a table with a column name twice is invalid input (4)' '
	sed "1s/x2/x1/" "$FIX/same.csv" >dup.csv &&
	test_expect_code 4 mlops monitor check churn --data dup.csv >out 2>err &&
	grep -q "^mlops: .dup.csv.: column .x1. appears twice (columns 1 and 2)$" err &&
	! grep -q "^verdict" out &&
	test_expect_code 4 mlops monitor check --baseline dup.csv --data "$FIX/same.csv" 2>err &&
	grep -q "column .x1. appears twice" err &&
	printf "{\"inputs\":{\"columns\":[\"x1\",\"x1\"],\"data\":[[1,2]]}}\n" >dup.log &&
	test_expect_code 4 mlops monitor check churn --log dup.log 2>err &&
	grep -q "dup.log. line 1: column .x1. appears twice" err
'

test_expect_success 'thresholds come from config, and flags override them' '
	git config -f .mlops/config monitor.ks-pvalue 1e-300 &&
	git config -f .mlops/config monitor.chi2-pvalue 1e-300 &&
	mlops monitor check churn --data "$FIX/shifted.csv" >out &&
	grep -q "^x1  *ks .* 1e-300  *no$" out &&
	test_expect_code 1 mlops monitor check churn --data "$FIX/shifted.csv" --ks-pvalue 0.05 \
		--chi2-pvalue 0.05 >out &&
	grep -q "^x1  *ks .* 0.0500  *yes$" out &&
	git config -f .mlops/config monitor.ks-pvalue 2 &&
	test_expect_code 4 mlops monitor check churn --data "$FIX/same.csv" 2>err &&
	grep -q "monitor.ks-pvalue" err &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --psi abc &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --share 0
'
git config -f .mlops/config --remove-section monitor 2>/dev/null

test_expect_success 'an option overrides a bad configured threshold; numbers are decimal' '
	git config -f .mlops/config monitor.share 0 &&
	test_expect_code 4 mlops monitor check churn --data "$FIX/same.csv" 2>err &&
	grep -q "monitor.share" err &&
	mlops monitor check churn --data "$FIX/same.csv" --share 0.5 >out &&
	grep -q "dataset drift at 0.50" out &&
	git config -f .mlops/config monitor.share 0x1 &&
	test_expect_code 4 mlops monitor check churn --data "$FIX/same.csv" 2>err &&
	grep -q "monitor.share.*not a decimal number" err &&
	git config -f .mlops/config --remove-section monitor &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --psi 0x10 2>err &&
	grep -q "^mlops: monitor check: --psi: .0x10. is not a decimal number$" err &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --psi inf &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --share 1.5 2>err &&
	grep -q "out of range" err
'
git config -f .mlops/config --remove-section monitor 2>/dev/null

test_expect_success 'share: the fraction of drifted columns that makes dataset drift' '
	mlops --json monitor check churn --data "$FIX/variance.csv" --share 0.3 >j;
	grep -q "\"dataset_drift\":[[:space:]]*true" j &&
	mlops --json monitor check churn --data "$FIX/variance.csv" --share 0.9 >j;
	grep -q "\"dataset_drift\":[[:space:]]*false" j
'

test_expect_success '--stattest picks one test for every column it applies to' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/shifted.csv" --stattest psi >out &&
	grep -q "^x1  *psi  *[0-9.]*  *0.2000  *yes$" out &&
	grep -q "^c  *psi " out &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --stattest nope
'

test_expect_success '--json has every figure, agreeing with SciPy' '
	mlops --json monitor check churn --data "$FIX/same.csv" >j &&
	tr -d " \t\n" <j >flat &&
	for f in ks psi wasserstein jensenshannon chisquare missing_columns new_columns \
		 type_changes predictions quality thresholds drifted_columns share verdict; do
		grep -q "\"$f\":" flat || { echo "no $f" >&2; return 1; }
	done &&
	awk -F "\"name\":\"x1\"" "{ print \$2 }" flat | awk -F "\"ks\":{\"statistic\":" "{ print \$2 }" |
		sed -n "s/^\([^,]*\),\"pvalue\":\([^,]*\),.*/\1 \2/p" >got &&
	test -s got &&
	# tests/fixtures/monitor/expected.h, same_x1: 0.0666666..., 0.331813...
	awk "{ exit !((\$1 - 0.066666666666666666)^2 < 1e-18 && (\$2 - 0.33181322041592926)^2 < 1e-18) }" got
'

test_expect_success 'n_values counts the distinct values of baseline and current together' '
	mlops --json monitor check churn --data "$FIX/same.csv" >j &&
	tr -d " \t\n" <j >flat &&
	# train.csv and same.csv share some values: 887 distinct x1, 894 x2
	grep -q "\"name\":\"x1\".*\"n_values\":887,\"n_values_exact\":true" flat &&
	grep -q "\"name\":\"x2\".*\"n_values\":894,\"n_values_exact\":true" flat &&
	grep -q "\"name\":\"c\".*\"n_values\":3,\"n_values_exact\":true" flat
'

test_expect_success 'labels: quality recomputed on current data, and its drop' '
	mlops monitor check churn --data "$FIX/same.csv" --target y >out &&
	grep -q "^quality on labels .y. (300 rows):$" out &&
	grep -q "^  accuracy  *training" out &&
	grep -q "within threshold$" out &&
	test_expect_code 1 mlops --json monitor check churn --data "$FIX/flipped.csv" --target y >j &&
	grep -q "\"degraded\":[[:space:]]*true" j &&
	grep -q "\"headline\":[[:space:]]*\"accuracy\"" j &&
	test_expect_code 4 mlops monitor check churn --data "$FIX/nocol.csv" --target nope 2>err &&
	grep -q "no label column .nope." err
'

test_expect_success 'labels: a drop that sampling noise explains is not degradation' '
	{ head -n 1 "$FIX/same.csv" && tail -n 250 "$FIX/same.csv"; } >recent.csv &&
	mlops monitor check churn --data recent.csv --target y --html q.html >out &&
	grep -q "^  accuracy worse by 5.5% (threshold 5.0% worse): not significant (p = 0.178, not below 0.05)$" out &&
	grep -q "^  drop 0.04367, standard error 0.04613, 95% CI -0.04676 to 0.1341, one-sided p = 0.178 (two-proportion z test; 120 validation rows, 250 current)$" out &&
	grep -q "^verdict: ok$" out &&
	grep -q "<span class=\"badge\">not significant</span>" q.html &&
	grep -q "<p class=\"quality-test\">accuracy worse by .*one-sided p = 0.1779 (two-proportion z test, 120 validation rows, 250 current; significant below 0.05)</p>" q.html &&
	test_expect_code 1 mlops monitor check churn --data recent.csv --target y --quality-pvalue 1 >out &&
	grep -q "^  accuracy worse by 5.5% .*: degraded$" out &&
	git config -f .mlops/config monitor.quality-pvalue 0.5 &&
	test_expect_code 1 mlops --json monitor check churn --data recent.csv --target y >j &&
	tr -d " \t\n" <j | grep -q "\"significance\":0.5,\"significant\":true},\"degraded\":true}" &&
	git config -f .mlops/config monitor.quality-pvalue 0 &&
	test_expect_code 4 mlops monitor check churn --data recent.csv --target y 2>err &&
	grep -q "monitor.quality-pvalue" err &&
	git config -f .mlops/config --remove-section monitor &&
	test_expect_code 2 mlops monitor check churn --data recent.csv --target y --quality-pvalue 1.5
'
git config -f .mlops/config --remove-section monitor 2>/dev/null

test_expect_success 'labels: 30% of the labels flipped is a significant degradation' '
	awk -F, "BEGIN { OFS = \",\" } NR > 1 && NR % 10 ~ /^[258]\$/ { \$4 = 1 - \$4 } { print }" \
		"$FIX/same.csv" >flip30.csv &&
	test $(diff "$FIX/same.csv" flip30.csv | grep -c "^>") = 90 &&
	test_expect_code 1 mlops monitor check churn --data flip30.csv --target y >out &&
	grep -q "^  accuracy worse by 23.4% (threshold 5.0% worse): degraded$" out &&
	grep -q "one-sided p = 0.000151 " out &&
	grep -q "^verdict: degraded$" out
'

test_expect_success 'labels: a model without validation rows has no training value to compare' '
	mlops --json train --builtin logistic -d churn-data@v1 --target y --valid-frac 0 >j &&
	run=$(json_field run <j) &&
	mlops -q register novalid --run "$run" &&
	mlops monitor check novalid --data "$FIX/same.csv" --target y --html nv.html >out &&
	grep -q "^  accuracy  *training -  *current 0\.[0-9]*  *change -$" out &&
	grep -q "^  accuracy not compared: the model has no training value (none measured on validation rows)$" out &&
	! grep -q "nan" out && ! grep -q "worse by" out && ! grep -q "^  drop " out &&
	grep -q "^verdict: ok$" out &&
	grep -q "<span class=\"badge\">not compared</span>" nv.html &&
	grep -q "<p class=\"quality-test\">accuracy not compared: the model has no training value" nv.html &&
	! grep -q "worse by" nv.html &&
	mlops --json monitor check novalid --data "$FIX/same.csv" --target y >j &&
	tr -d " \t\n" <j >r &&
	grep -q "\"accuracy\":{\"training\":null,\"current\":[0-9.]*,\"change\":null" r &&
	grep -q "\"relative_drop\":null" r && grep -q "\"degraded\":false" r
'

test_expect_success 'regression: numeric predictions, rmse recomputed on labels' '
	mlops --json train --builtin linear -d churn-data@v1 --target x2 >j &&
	mlops -q register reg --run "$(json_field run <j)" &&
	mlops monitor check reg --data "$FIX/same.csv" --target x2 >out &&
	grep -q "^(predictions) prediction  *ks " out &&
	grep -q "^(labels) x2  *ks " out &&
	grep -q "^  rmse  *training" out && grep -q "^  r2 " out &&
	test_expect_code 1 mlops monitor check reg --data "$FIX/variance.csv" --target x2 >out &&
	grep -q "^  rmse worse by .*: degraded$" out &&
	grep -q "^verdict: degraded$" out
'

# quality_check.py MODEL.json TABLE REPORT.json: the report's test of the
# headline metric's drop, recomputed from the model's coefficients with SciPy.
cat >quality_check.py <<'EOF'
import csv, json, math, sys
import numpy as np
from scipy import stats

model = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
quality = json.load(open(sys.argv[3]))["quality"]
t = quality["test"]


def close(name, got, want, rel=1e-9):
    if got is None or not abs(got - want) <= rel * abs(want) + 1e-300:
        sys.exit("%s: got %r, want %r" % (name, got, want))


def encode(r):
    x = []
    for inp in model["inputs"]:
        v = r[inp["name"]]
        if inp["type"] == "numeric":
            x.append((float(v) - inp["mean"]) / inp["std"])
        else:
            x.extend(1.0 if v == c else 0.0 for c in inp["categories"])
    return x


score = np.array([encode(r) for r in rows]) @ np.array(model["coefficients"]).T
score = score[:, 0] + model["intercepts"][0]
target, n_tr, n_cur = model["target"], model["training"]["valid_rows"], len(rows)
if model["task"] == "classification":
    classes = model["classes"]
    right = sum(classes[int(s > 0)] == r[target] for s, r in zip(score, rows))
    p_tr, p_cur = model["metrics"]["accuracy"], right / n_cur
    close("current accuracy", quality["metrics"]["accuracy"]["current"], p_cur)
    r_tr = round(p_tr * n_tr)
    chi2, p2, _, _ = stats.chi2_contingency([[r_tr, n_tr - r_tr], [right, n_cur - right]],
                                            correction=False)
    drop = p_tr - p_cur
    z = math.copysign(math.sqrt(chi2), drop)
    p = p2 / 2 if drop > 0 else 1 - p2 / 2
    se = math.sqrt(p_tr * (1 - p_tr) / n_tr + p_cur * (1 - p_cur) / n_cur)
else:
    e2 = (np.array([float(r[target]) for r in rows]) - score) ** 2
    rmse_tr, rmse_cur = model["metrics"]["rmse"], math.sqrt(e2.mean())
    close("current rmse", quality["metrics"]["rmse"]["current"], rmse_cur)
    cv = np.std(e2, ddof=1) / e2.mean()
    close("squared_error_cv", t["squared_error_cv"], cv)
    drop = rmse_cur - rmse_tr
    se = math.hypot(cv * rmse_tr / (2 * math.sqrt(n_tr)), cv * rmse_cur / (2 * math.sqrt(n_cur)))
    z = drop / se
    p = stats.norm.sf(z)
q975 = stats.norm.ppf(0.975)
close("drop", t["drop"], drop)
close("standard_error", t["standard_error"], se)
close("z", t["z"], z)
close("pvalue", t["pvalue"], p)
close("ci_low", t["ci_low"], drop - q975 * se)
close("ci_high", t["ci_high"], drop + q975 * se)
if (t["training_rows"], t["current_rows"]) != (n_tr, n_cur):
    sys.exit("rows: got %r" % ((t["training_rows"], t["current_rows"]),))
want = quality["relative_drop"] > quality["threshold"] and p < t["significance"]
if quality["degraded"] != want:
    sys.exit("degraded: got %r, want %r" % (quality["degraded"], want))
EOF

test_expect_success 'labels: the test of the drop agrees with SciPy' '
	if ! /usr/bin/python3 -c "import numpy, scipy" 2>/dev/null; then
		say "NumPy or SciPy not installed: not cross-checked"; return 0
	fi
	mlops -q train --builtin logistic -d churn-data@v1 --target y -o mq &&
	mlops -q train --builtin linear -d churn-data@v1 --target x2 -o mr &&
	# EXIT:MODEL:TARGET:TABLE
	for c in 0:mq:y:recent.csv 1:mq:y:flip30.csv 0:mq:y:"$FIX/same.csv" \
		 1:mq:y:"$FIX/flipped.csv" 0:mr:x2:recent.csv 0:mr:x2:"$FIX/same.csv" \
		 1:mr:x2:"$FIX/variance.csv" 1:mr:x2:"$FIX/shifted.csv"; do
		IFS=: read code m y t <<-EOF
		$c
		EOF
		test_expect_code $code mlops --json monitor check --baseline "$FIX/train.csv" \
			--model $m/model.json --data "$t" --target $y >j &&
		/usr/bin/python3 quality_check.py $m/model.json "$t" j || return 1
	done
'

test_expect_success 'monitor log lists earlier checks with their verdicts' '
	mlops monitor log churn >out &&
	test $(wc -l <out) -ge 10 && ! grep -q " reg@" out &&
	head -1 out | grep -q " churn@v0.0.1 " &&
	grep -q " drift  *[0-9]/3 columns" out &&
	grep -q " ok .* data .*same.csv$" out &&
	mlops --json monitor log >j && grep -q "\"verdict\":" j &&
	test $(grep -c "\"quality_drop\":" j) = $(grep -c "\"verdict\":" j) &&
	grep -q "\"quality_drop\":[[:space:]]*null" j &&
	grep -q "\"quality_drop\":[[:space:]]*0\.[0-9]" j &&
	ref=$(ls .mlops/refs/monitor/churn | head -1) &&
	id=$(cat .mlops/refs/monitor/churn/$ref) &&
	cat_object $id | grep -q "\"type\":\"monitor-check\"" &&
	test_expect_code 3 mlops monitor check nobody --data "$FIX/same.csv"
'

test_expect_success 'monitor log is newest first for checks within one second' '
	for i in 1 2 3 4 5; do cp "$FIX/same.csv" order$i.csv || return 1; done &&
	for i in 1 2 3 4 5; do mlops -q monitor check churn --data order$i.csv || return 1; done &&
	mlops monitor log churn | head -5 | sed "s/.* //" >got &&
	printf "order%s.csv\n" 5 4 3 2 1 >want &&
	test_cmp want got &&
	mlops --json monitor check churn --data order1.csv >j &&
	grep -q "\"time\":[[:space:]]*[0-9]*\.[0-9]" j
'

test_expect_success 'the HTML page is small, self-contained and has a chart per column' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/newcat.csv" --html report.html >out &&
	for c in x1 x2 c prediction; do
		grep -q "<svg class=\"chart\" data-column=\"$c\"" report.html || return 1
	done &&
	! grep -q "<script" report.html && ! grep -q "https\?://" report.html &&
	test $(wc -c <report.html) -lt 100000
'

test_expect_success 'an HTML page that cannot be written leaves no record and runs nothing' '
	checks=$(ls .mlops/refs/monitor/churn | wc -l) && cp "$FIX/newcat.csv" html.csv &&
	test_expect_code 6 mlops monitor check churn --data html.csv --html nodir/x.html \
		--on-drift "touch got.hook-html" >out 2>err &&
	grep -q "nodir" err &&
	test $(ls .mlops/refs/monitor/churn | wc -l) = $checks &&
	! test -e got.hook-html && ! grep -q "^verdict" out &&
	mkdir -p adir &&
	test_expect_code 6 mlops monitor check churn --data html.csv --html adir 2>err &&
	grep -q "Is a directory" err &&
	test $(ls .mlops/refs/monitor/churn | wc -l) = $checks &&
	test -z "$(ls adir)" && ! ls write-* 2>/dev/null
'

test_expect_success 'the HTML page renders in a real browser' '
	browser=$(command -v chromium || command -v chromium-browser || true)
	if [ -z "$browser" ]; then say "chromium not installed: HTML not rendered"; return 0; fi
	"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run \
		--user-data-dir="$(mktemp -d)" --dump-dom "file://$PWD/report.html" >dom 2>/dev/null &&
	for c in x1 x2 c prediction; do
		grep -q "<svg class=\"chart\" data-column=\"$c\"" dom || { echo "no chart of $c" >&2; return 1; }
	done &&
	test $(grep -o "<rect class=\"base\"" dom | wc -l) -ge 20
'

test_expect_success 'ad-hoc: --baseline TABLE and --model MODEL.json' '
	mlops -q train --builtin logistic -d churn-data --target y -o m &&
	mlops monitor check --baseline data/train.csv --model m/model.json --data "$FIX/same.csv" >out &&
	grep -q "^(predictions) prediction " out && ! grep -q "^recorded" out &&
	test_expect_code 1 mlops monitor check --baseline data/train.csv --data "$FIX/shifted.csv" >out &&
	! grep -q "(predictions)" out &&
	test_expect_code 2 mlops monitor check --data "$FIX/same.csv" &&
	test_expect_code 2 mlops monitor check churn --data a.csv --log b.jsonl &&
	test_expect_code 2 mlops monitor check churn --model m/model.json --data a.csv
'

test_expect_success 'a version without a baseline is not found (3), with a hint that fits how it was registered' '
	mlops -q register frompath m &&
	test_expect_code 3 mlops monitor check frompath --data "$FIX/same.csv" 2>err &&
	grep -q "^mlops: frompath@v0.0.1: no monitoring baseline: the version was registered from a path, not from a run" err &&
	grep -q "^hint: register the built-in run that made the model (mlops register NAME --run RUN)" err &&
	printf "#!/bin/sh\necho x >\"\$MLOPS_OUTPUT/o\"\n" >noin.sh && chmod +x noin.sh &&
	run=$(mlops --json train -n noin -- ./noin.sh | json_field run) && test -n "$run" &&
	mlops -q register noin --run "$run" 2>/dev/null &&
	test_expect_code 3 mlops monitor check noin --data "$FIX/same.csv" 2>err &&
	grep -q "no monitoring baseline: the version.s run took no dataset or feature set$" err &&
	grep -q "^hint: check against the table it was trained on with --baseline TABLE" err &&
	! grep -q "register" err &&
	test $(ls .mlops/refs/monitor | grep -c "^frompath$\|^noin$") = 0
'

# requests FILE: the rows of a fixture table as MLflow dataframe_split bodies of 50 rows.
requests() {
	awk -F, -v out="$2" 'NR == 1 { next }
	{ row = sprintf("[%s,%s,\"%s\"]", $1, $2, $3); n++
	  body = body (body == "" ? "" : ",") row
	  if (n % 50 == 0) { print "{\"dataframe_split\":{\"columns\":[\"x1\",\"x2\",\"c\"],\"data\":[" body "]}}" > (out "." n); body = "" } }' "$1"
}

test_expect_success 'serve log: the requests and predictions of mlops deploy serve' '
	start_server churn --log requests.log &&
	requests "$FIX/same.csv" req &&
	for f in req.*; do
		curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" \
			--data-binary "@$f" "http://127.0.0.1:$PORT/invocations" >status &&
		grep -q 200 status || return 1
	done &&
	kill -TERM $SERVER_PID && wait $SERVER_PID &&
	test $(wc -l <requests.log) = 6 &&
	mlops monitor check churn --log requests.log >out &&
	grep -q " log requests.log: 300 rows" out &&
	grep -q "^(predictions) prediction " out &&
	! grep -q "^missing column" out
'

test_expect_success 'serve log: drift in what the server saw, --since, a bad log' '
	start_server churn --log shifted.log &&
	requests "$FIX/shifted.csv" sreq &&
	for f in sreq.*; do
		curl -s -o /dev/null -H "Content-Type: application/json" \
			--data-binary "@$f" "http://127.0.0.1:$PORT/invocations" || return 1
	done &&
	kill -TERM $SERVER_PID && wait $SERVER_PID &&
	test_expect_code 1 mlops monitor check churn --log shifted.log >out &&
	grep -q "^x1  *ks .* yes$" out &&
	grep -q "^(predictions) prediction .* yes$" out &&
	test_expect_code 1 mlops monitor check churn --log shifted.log --since 1d >/dev/null &&
	mlops --json monitor check churn --log shifted.log --since "@4000000000" >j &&
	grep -q "\"rows\":[[:space:]]*0" j && grep -q "\"verdict\":[[:space:]]*\"no_data\"" j &&
	printf "{\"time\":\"2026-01-01T00:00:00Z\",\"inputs\":{\"columns\":[\"x1\"],\"data\":[[1]]}}\nnot json\n" >bad.log &&
	test_expect_code 4 mlops monitor check churn --log bad.log 2>err &&
	grep -q "bad.log. line 2" err &&
	test_expect_code 2 mlops monitor check churn --data "$FIX/same.csv" --since 1d
'

test_expect_success 'serve log: requests to another model are refused' '
	checks=$(ls .mlops/refs/monitor/churn | wc -l) &&
	sed "3s/\"model\":\"churn\"/\"model\":\"other\"/" shifted.log >other.log &&
	! cmp -s shifted.log other.log &&
	test_expect_code 4 mlops monitor check churn --log other.log >out 2>err &&
	grep -q "^mlops: .other.log. line 3: a request to model .other., not .churn.$" err &&
	test $(ls .mlops/refs/monitor/churn | wc -l) = $checks &&
	test_expect_code 1 mlops monitor check --baseline data/train.csv --log other.log >out
'

test_expect_success '--since: out-of-range and non-decimal durations are refused; source.since' '
	test_expect_code 2 mlops monitor check churn --log shifted.log --since 99999999999999999999d 2>err &&
	grep -q "before 1970" err &&
	test_expect_code 2 mlops monitor check churn --log shifted.log --since 0x10s &&
	test_expect_code 2 mlops monitor check churn --log shifted.log --since 1e3s &&
	test_expect_code 1 mlops --json monitor check churn --log shifted.log --since 1.5h >j &&
	tr -d " \t\n" <j | grep -q "\"since\":[0-9.]*," &&
	test_expect_code 1 mlops --json monitor check churn --log shifted.log >j &&
	tr -d " \t\n" <j | grep -q "\"since\":null,"
'

test_expect_success 'a missing --log or --data file is not found (3)' '
	test_expect_code 3 mlops monitor check churn --log nosuch.jsonl 2>err &&
	grep -q "unable to open .nosuch.jsonl.: No such file" err &&
	test_expect_code 3 mlops monitor check churn --data nosuch.csv &&
	test_expect_code 3 mlops monitor check churn --data ./nosuch.csv
'

test_expect_success '--on-drift runs a command with the check in the environment' '
	test_expect_code 1 mlops monitor check churn --data "$FIX/shifted.csv" \
		-- sh -c "cp \"\$MLOPS_CHECK_JSON\" got.json; echo \$MLOPS_CHECK_VERDICT \$MLOPS_CHECK_ID >got.env" >out &&
	grep -q "\"verdict\":[[:space:]]*\"drift\"" got.json &&
	grep -q "^drift [0-9a-f]\{64\}$" got.env &&
	! ls .mlops/tmp/check-* 2>/dev/null &&
	rm got.json &&
	mlops monitor check churn --data "$FIX/same.csv" -- sh -c "touch got.json" &&
	! test -e got.json &&
	printf "#!/bin/sh\necho \"\$1 \$MLOPS_CHECK_VERDICT\" >got.hook\n" >hook.sh && chmod +x hook.sh &&
	test_expect_code 1 mlops monitor check churn --data "$FIX/shifted.csv" --on-drift "./hook.sh alert" &&
	grep -q "^alert drift$" got.hook &&
	test_expect_code 3 mlops monitor check churn --data "$FIX/shifted.csv" --on-drift "./no-such-hook" 2>err &&
	grep -q "no-such-hook" err
'

test_expect_success 'retrain: a failed check trains again on the newest data and registers it' '
	cp "$FIX/shifted.csv" data/train.csv && mlops -q dataset add data/train.csv --name churn-data &&
	mlops monitor check churn --data churn-data@v1 --retrain >out &&
	grep -q "^no drift: not retraining$" out &&
	test_expect_code 1 mlops monitor check churn --data churn-data --retrain >out 2>err &&
	grep -q "^retraining churn@v0.0.1 on churn-data@v2$" out &&
	grep -q "^registered churn@v0.0.2 (tag churn@v0.0.2), lineage: drift check [0-9a-f]*$" out &&
	check=$(sed -n "s/^recorded as monitor\/churn\/.*-\([0-9a-f]*\)$/\1/p" out) &&
	rec=$(cat .mlops/refs/models/churn/v0.0.2) &&
	cat_object $rec >r &&
	grep -q "\"drift_check\":\"$check" r &&
	grep -q "\"version\":2" r
'

test_expect_success 'retrain: no new data registers nothing; --promote only through the gates' '
	test_expect_code 1 mlops monitor check churn@v0.0.1 --data "$FIX/shifted.csv" --retrain >out &&
	grep -q "nothing registered" out &&
	cp "$FIX/variance.csv" data/train.csv && mlops -q dataset add data/train.csv --name churn-data &&
	git config -f .mlops/config --add stage.prod.require "accuracy >= 0.999" &&
	test_expect_code 1 mlops monitor check churn@v0.0.1 --data "$FIX/variance.csv" --retrain --promote prod >out &&
	grep -q "^registered churn@v0.0.3" out &&
	grep -q "^not promoted to prod: .*accuracy" out &&
	git config -f .mlops/config --unset-all stage.prod.require &&
	git config -f .mlops/config --add stage.prod.require "accuracy >= 0.1" &&
	cp "$FIX/newcat.csv" data/train.csv && mlops -q dataset add data/train.csv --name churn-data &&
	test_expect_code 1 mlops --json monitor check churn@v0.0.1 --data "$FIX/newcat.csv" --retrain --promote prod >j &&
	grep -q "\"promoted\":[[:space:]]*\"prod\"" j &&
	mlops register show "churn#prod" | grep -q "v0.0.4" &&
	test_expect_code 2 mlops monitor check --baseline data/train.csv --data "$FIX/same.csv" --retrain
'

test_expect_success 'retrain runs once: not from within a retraining, refused before the check' '
	checks=$(ls .mlops/refs/monitor/churn | wc -l) &&
	(export MLOPS_RETRAINING=1 &&
	 test_expect_code 9 mlops monitor check churn@v0.0.1 --data "$FIX/shifted.csv" --retrain >out 2>err) &&
	grep -q "within a retraining" err &&
	! grep -q "^verdict" out &&
	test $(ls .mlops/refs/monitor/churn | wc -l) = $checks
'

test_expect_success 'retrain: a bad --promote stage is refused before anything is done' '
	sed "\$d" "$FIX/shifted.csv" >data/train.csv && mlops -q dataset add data/train.csv --name churn-data &&
	tags=$(git tag -l | wc -l) && checks=$(ls .mlops/refs/monitor/churn | wc -l) &&
	test_expect_code 2 mlops monitor check churn@v0.0.1 --data churn-data --retrain \
		--promote "bad stage!" >out 2>err &&
	grep -q "not a valid stage name" err && ! grep -q "^verdict" out &&
	test_expect_code 2 mlops monitor check churn@v0.0.1 --data churn-data --retrain \
		--promote nosuchstage 2>err &&
	grep -q "is not a stage" err &&
	test $(git tag -l | wc -l) = $tags &&
	test $(ls .mlops/refs/monitor/churn | wc -l) = $checks
'

test_expect_success 'monitor log REV: the checks of the version it names; unknown ones are not found' '
	{ mlops -q monitor check churn@v0.0.2 --data "$FIX/same.csv"; test $? -le 1; } &&
	mlops monitor log churn@v0.0.2 >out &&
	test $(wc -l <out) = 1 && grep -q " churn@v0.0.2 " out &&
	mlops monitor log churn@v0.0.1 >out &&
	test $(wc -l <out) -ge 10 && ! grep -q " churn@v0.0.2 " out &&
	mlops monitor log churn >out &&
	grep -q " churn@v0.0.2 " out && grep -q " churn@v0.0.1 " out &&
	mlops monitor log "churn#prod" >out && test ! -s out &&
	test_expect_code 3 mlops monitor log nobody 2>err && grep -q "nobody" err &&
	test_expect_code 3 mlops monitor log churn@v9.9.9 &&
	test_expect_code 3 mlops monitor log "churn#staging" &&
	test_expect_code 2 mlops monitor log "bad name"
'

# A built-in model trained on a feature set: the baseline is the feature
# columns of the set's table it was trained on; served behind the set's
# transforms, it logs the raw columns of the requests, which the check
# turns into those feature columns with the parameters of training.
mkdir fsm
awk 'BEGIN {
	print "cust,t,amount,country,age,y";
	split("FR US DE", cc, " ");
	for (i = 1; i <= 200; i++) {
		a = (i * 37) % 100 + 0.25 * (i % 4); c = cc[i % 3 + 1];
		age = (i % 7 == 0) ? "" : 20 + (i * 13) % 50;
		y = 0.05 * a + (c == "FR" ? 2 : 0) - 0.05 * (age == "" ? 40 : age) + ((i * 7) % 5) / 10;
		printf "c%d,2024-01-%02d,%s,%s,%s,%s\n", i % 10, 1 + i % 28, a, c, age, y
	}
}' >fsm/src.csv
cat >fsm/cust.json <<'EOS'
{"name": "cust", "source": "src", "entity": "cust", "timestamp": "t",
 "features": [
  {"name": "amount_z", "column": "amount", "transform": "standardize"},
  {"name": "country", "column": "country", "transform": "one-hot"},
  {"name": "age", "column": "age", "transform": "fill-missing", "strategy": "median"},
  {"name": "n_7d", "transform": "count", "window": "7d"},
  {"name": "y", "column": "y", "transform": "identity"}]}
EOS

test_expect_success 'feature set: train -f, register, deploy: the version has a baseline of its feature columns' '
	cd fsm && git init -q && mlops -q init &&
	printf "%s\n" /out /j /*.log /serve.* /body /status /*.csv /rel >>.git/info/exclude &&
	git add -A && git commit -qm init &&
	mlops -q dataset add src.csv --name src &&
	mlops -q feature add cust.json && mlops -q feature materialize cust &&
	mlops --json train --builtin linear -f cust --target y -p exclude=cust,t >j &&
	run=$(json_field run <j) && git add -A && git commit -qm data &&
	mlops register cust-model --run "$run" 2>err &&
	! grep -q "no monitoring baseline" err &&
	mlops --json register show cust-model >j &&
	base=$(json_field baseline <j) && test -n "$base" &&
	cat_object "$base" >b &&
	grep -q "\"dataset\":{\"name\":\"cust\",\"path\":\"cust.csv\",\"record\":\"[0-9a-f]*\",\"type\":\"feature-set\",\"version\":1}" b &&
	for c in amount_z country=DE country=FR country=US age n_7d y; do
		grep -q "\"name\":\"$c\"" b || return 1
	done &&
	! grep -q "\"name\":\"cust\",\"type\"" b && ! grep -q "\"name\":\"t\"" b &&
	git config -f .mlops/config deploy.prod.type dir &&
	git config -f .mlops/config deploy.prod.path rel &&
	mlops -q deploy cust-model prod && test -f rel/current/features.json
'

test_expect_success 'feature set: monitor the deployment: the same requests pass, drifted ones are reported' '
	cd fsm &&
	cut -d, -f1,2 src.csv >ents.csv &&
	mlops -q feature join cust --entities ents.csv --out joined.csv &&
	cut -d, -f3,4,5 src.csv >a.csv && cut -d, -f8 joined.csv >n.csv &&
	paste -d, a.csv n.csv >raw.csv && head -n 1 raw.csv | grep -q "^amount,country,age,n_7d$" &&
	awk -F, "NR == 1 { print; next } { printf \"%s,%s,%s,%s\\n\", \$1 + 80, (\$2 == \"DE\" ? \"FR\" : \$2), \$3, \$4 }" \
		raw.csv >drift.csv &&
	start_server rel --log same.log &&
	post /invocations text/csv raw.csv >/dev/null && test "$(cat status)" = 200 && stop_server &&
	start_server rel --log drifted.log &&
	post /invocations text/csv drift.csv >/dev/null && test "$(cat status)" = 200 && stop_server &&
	grep -q "\"columns\":\[\"amount\",\"country\",\"age\",\"n_7d\"\]" same.log &&
	mlops monitor check cust-model --log same.log >out &&
	grep -q " log same.log: 200 rows against a baseline of 200 rows" out &&
	grep -q "^amount_z  *ks  *1.0000 .* no$" out && grep -q "^country=DE  *z .* no$" out &&
	grep -q "^(predictions) prediction .* no$" out &&
	! grep -q "^missing column" out && ! grep -q "^new column" out &&
	grep -q "^verdict: ok$" out &&
	test_expect_code 1 mlops monitor check cust-model --log drifted.log >out &&
	grep -q "^amount_z  *ks .* yes$" out && grep -q "^country=DE  *z .* yes$" out &&
	grep -q "^age  *ks .* no$" out &&
	grep -q "^(predictions) prediction .* yes$" out &&
	! grep -q "^missing column" out && grep -q "^verdict: drift$" out &&
	mlops monitor check cust-model --data joined.csv >out && grep -q "^verdict: ok$" out &&
	mlops monitor check cust-model --data raw.csv >out && grep -q "^verdict: ok$" out &&
	test_expect_code 1 mlops monitor check cust-model --data drift.csv >out &&
	grep -q "^amount_z  *ks .* yes$" out &&
	printf "amount,country,age,n_7d\n1,FR,30,1\nabc,FR,30,1\n" >bad.csv &&
	test_expect_code 4 mlops monitor check cust-model --data bad.csv 2>err &&
	grep -q "bad.csv. line 3: column .amount.: .abc. is not a number" err
'

test_done
