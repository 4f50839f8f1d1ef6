#!/bin/sh
# tour.sh - the life cycle of a model with mlops, on real data, in a
# temporary git repository.  Each step prints what it does; the tour stops
# with a non-zero status at the first step that fails.
#   examples/tour.sh            (uses ./mlops; MLOPS_BIN overrides)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
MLOPS_BIN=${MLOPS_BIN:-$here/../mlops}
case $MLOPS_BIN in /*) ;; *) MLOPS_BIN=$PWD/$MLOPS_BIN ;; esac
data=$here/data
work=$(mktemp -d "${TMPDIR:-/tmp}/mlops-tour.XXXXXX")
trap 'rm -rf "$work"' EXIT
mlops() { "$MLOPS_BIN" "$@"; }
step() { printf '\n\033[1m== %s\033[m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cd "$work"
git init -q -b main . 2>/dev/null || git init -q .
git config user.name "Tour Guide"
git config user.email "tour@example.com"

step "1. create the repository"
run mlops init

step "2. version the dataset (breast cancer, 569 rows)"
mkdir -p data
cp "$data/breast_cancer.csv" data/
run mlops dataset add data/breast_cancer.csv --name cancer -m "original export"
run git add mlops.lock .gitignore .mlops
run git commit -q -m "track the cancer dataset"

step "3. a second version: 20 rows dropped"
head -n 550 "$data/breast_cancer.csv" >data/breast_cancer.csv
run mlops status || true
run mlops dataset add data/breast_cancer.csv --name cancer -m "drop the last rows"
run mlops dataset log cancer
run mlops dataset diff cancer@v1 cancer@v2

step "4. back to the first version"
run mlops dataset checkout cancer@v1
cmp data/breast_cancer.csv "$data/breast_cancer.csv"
run mlops status --exit-code

step "5. explore it"
run mlops dataset stats cancer --path data/breast_cancer.csv --html "$work/stats.html"
mlops --json dataset stats cancer@v1 | grep -c '"name"' | sed 's/^/columns profiled: /'
mlops dataset stats data/breast_cancer.csv | sed -n '1p;/^target/,$p'

step "6. a feature set: definitions in git, a materialized table, lookups"
# The data has no entity or time of its own: number the rows as patients
# seen one day apart, so the feature store has something to index.
awk -F, 'NR == 1 { print "patient,seen," $1 "," $2 "," $4; next }
	{ printf "p%03d,2024-%02d-%02d,%s,%s,%s\n", NR - 1, (NR - 2) % 12 + 1, (NR - 2) % 28 + 1, $1, $2, $4 }' \
	"$data/breast_cancer.csv" >data/visits.csv
run mlops dataset add data/visits.csv --name visits
mkdir -p features
cat >features/patient.json <<'JSON'
{"name": "patient", "source": "visits", "entity": "patient", "timestamp": "seen",
 "features": [
   {"name": "radius_z", "column": "mean_radius", "transform": "standardize"},
   {"name": "log_area", "column": "mean_area", "transform": "log1p"},
   {"name": "texture_band", "column": "mean_texture", "transform": "bucketize", "edges": [15, 20, 25]}]}
JSON
run mlops feature add features/patient.json
run mlops feature materialize patient
run mlops feature get patient p007

step "7. train the built-in logistic regression (no Python)"
run mlops train --builtin logistic -d cancer@v1 --target target --seed 42 -o model
test -s model/model.json

step "8. the same run again is a cache hit"
run mlops train --builtin logistic -d cancer@v1 --target target --seed 42 -o model

if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	step "9. train your own script (scikit-learn), as a tracked run"
	run mlops train -n sklearn-lr -d cancer@v1 -p C=1.0 -- /usr/bin/python3 "$here/train/train.py"
else
	step "9. (skipped: python3-sklearn is not installed)"
fi

step "10. compare the runs"
run mlops train list
run_id=$(mlops train list --name cancer-logistic | awk 'NR == 1 { print $1 }')

step "11. register the model and promote it"
run mlops register cancer-model --run "$run_id" -m "built-in logistic, seed 42"
run mlops register promote cancer-model@v0.0.1 prod
run mlops register list

step "12. deploy it to a release folder"
git config -f .mlops/config deploy.prod.type dir
git config -f .mlops/config deploy.prod.path "$work/srv"
git config -f .mlops/config deploy.prod.stage prod
run mlops deploy cancer-model#prod prod
ls "$work/srv/current/"

step "13. serve it and ask for one prediction"
# The binary itself in the background (not the shell function), so that
# $! is the server and the kill below stops it.
"$MLOPS_BIN" deploy serve cancer-model#prod --port 0 --log "$work/requests.jsonl" >"$work/serve.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
i=0
while ! grep -q "serving" "$work/serve.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/serve.out"; exit 1; }; sleep 0.1
done
cat "$work/serve.out"
url=$(sed -n 's/.* on \(http:[^ ]*\).*/\1/p' "$work/serve.out" | head -1)
row=$(sed -n 2p "$data/breast_cancer.csv" | cut -d, -f1-30)
cols=$(head -n 1 "$data/breast_cancer.csv" | cut -d, -f1-30 | sed 's/[^,]*/"&"/g')
body="{\"dataframe_split\": {\"columns\": [$cols], \"data\": [[$row]]}}"
printf '$ curl -s %s/invocations -H "Content-Type: application/json" -d ...\n' "$url"
curl -sf "$url/invocations" -H "Content-Type: application/json" -d "$body"
echo
kill $server
wait $server 2>/dev/null || true

step "14. monitor: the same rows, drifted (every mean and worst measure 40% larger)"
awk -F, 'BEGIN { OFS = "," } NR > 1 { for (i = 1; i <= 10; i++) { $i *= 1.4; $(i + 20) *= 1.4 } } { print }' \
	"$data/breast_cancer.csv" >"$work/drifted.csv"
set +e
mlops monitor check cancer-model#prod --data "$work/drifted.csv" --html "$work/drift.html" >"$work/check.out"
status=$?
head -n 6 "$work/check.out"; echo "..."; tail -n 3 "$work/check.out"
set -e
echo "exit status $status (1: drift found)"
[ "$status" = 1 ]
test -s "$work/drift.html" && echo "report written: drift.html"
mlops -q monitor check cancer-model#prod --data "$data/breast_cancer.csv" && echo "the original data: no drift (exit 0)"

step "15. retrain on the newest data when drift is found"
set +e
mlops monitor check cancer-model#prod --data "$work/drifted.csv" --retrain >"$work/retrain.out"
status=$?
set -e
tail -n 4 "$work/retrain.out"
[ "$status" = 1 ]
run mlops register list
run mlops monitor log cancer-model

printf '\nThe tour finished: every step succeeded.\n'
