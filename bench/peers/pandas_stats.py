#!/usr/bin/python3
"""pandas_stats.py FILE - the peer of `mlops dataset stats FILE`: read the
CSV with pandas and describe every column (count, mean, std, min,
quartiles, max; count, unique, top, freq for text columns)."""
import sys

import pandas as pd

df = pd.read_csv(sys.argv[1])
print(df.describe(include="all").to_string())
