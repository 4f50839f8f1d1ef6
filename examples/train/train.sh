#!/bin/sh
# train.sh - a training command in plain shell, run by `mlops train`:
#
#   mlops train -d cancer -p bins=10 -- examples/train/train.sh
#
# It shows the whole contract: the params file (JSON), the input path
# (MLOPS_INPUT_<NAME>), the output directory and the metrics file.  The
# "model" is the mean of each column, computed with awk.
set -eu
: "${MLOPS_OUTPUT:?run me with mlops train}"
input=$(env | sed -n 's/^MLOPS_INPUT_[A-Z0-9_]*=//p' | head -n 1)
[ -n "$input" ] || { echo "train.sh: no input; give one with -d DATASET" >&2; exit 2; }
[ -d "$input" ] && input=$(find "$input" -name '*.csv' | sort | head -n 1)
echo "run $MLOPS_RUN_ID on $(basename "$input"), params $(tr -d ' \n\t' <"$MLOPS_PARAMS")"
awk -F, 'NR == 1 { n = NF; for (i = 1; i <= NF; i++) name[i] = $i; next }
	{ for (i = 1; i <= n; i++) s[i] += $i; rows++ }
	END { printf "{"; for (i = 1; i <= n; i++) printf "%s\"%s\":%.10g", (i > 1 ? "," : ""), name[i], s[i] / rows; print "}" }' \
	"$input" >"$MLOPS_OUTPUT/means.json"
rows=$(($(wc -l <"$input") - 1))
printf '{"rows": %d, "columns": %d}\n' "$rows" "$(head -n 1 "$input" | tr ',' '\n' | wc -l)" >"$MLOPS_METRICS"
echo "wrote means.json for $rows rows"
