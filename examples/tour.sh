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
run git add mlops.lock .gitignore .mlops/config
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

printf '\nThe tour finished: every step succeeded.\n'
