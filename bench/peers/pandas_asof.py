#!/usr/bin/python3
"""pandas_asof.py FEATURES ENTITIES OUT - the peer of `mlops feature join`:
a point-in-time join with pandas merge_asof (each entity row gets the
newest feature row of its key at or before its own timestamp)."""
import sys

import pandas as pd

feat = pd.read_csv(sys.argv[1]).sort_values("ts")
ent = pd.read_csv(sys.argv[2]).sort_values("ts")
out = pd.merge_asof(ent, feat, on="ts", by="user", direction="backward")
out.to_csv(sys.argv[3], index=False)
