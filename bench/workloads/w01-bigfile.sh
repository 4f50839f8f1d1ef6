# W1: one large incompressible file (2 GiB; --quick 128 MiB): add,
# status with no change, checkout into an empty workspace.
W1_TITLE="one incompressible file"

w1() {
	local size=$((2 << 30))
	[ "$QUICK" = 1 ] && size=$((128 << 20))
	local src
	src=$(data_random "$size" 1)
	record_meta W1.size "$size"
	vc_scenario W1 "$src" big.bin big add status checkout
	# Reference figures from the issue (2 GiB, another machine), not re-run.
	record_ref W1 add DVC 5.6 "" "dvc add"
	record_ref W1 "status (no change)" DVC 0.250 "" "dvc status"
	record_ref W1 checkout DVC 0.75 "" "dvc checkout"
}
