# W2: 50,000 files of 1-8 KiB in a two-level tree (--quick 1,000): add,
# status with no change, status after touching one file, checkout.
W2_TITLE="many small files"

w2() {
	local n=50000
	[ "$QUICK" = 1 ] && n=1000
	local src
	src=$(data_tree "$n" 2)
	record_meta W2.files "$n"
	vc_scenario W2 "$src" data data add status touch checkout
	record_ref W2 add DVC 31 "" "dvc add"
	record_ref W2 add git-lfs 13 "" "git lfs track + git add"
	record_ref W2 add restic 2.8 "" "restic backup"
	record_ref W2 "status (no change)" git 0.10 "" "git status"
	record_ref W2 "status (no change)" DVC 1.6 "" "dvc status"
	record_ref W2 checkout restic 5.7 "" "restic restore"
	record_ref W2 checkout DVC 19 "" "dvc checkout"
}
