#!/usr/bin/python3
"""scipy_drift.py BASELINE CURRENT - the peer of `mlops monitor check`:
read both CSVs with pandas and, for every numeric column, compute the
two-sample Kolmogorov-Smirnov statistic, the Wasserstein distance and the
population stability index (10 quantile bins of the baseline)."""
import sys

import numpy as np
import pandas as pd
from scipy import stats

base = pd.read_csv(sys.argv[1])
cur = pd.read_csv(sys.argv[2])
for col in base.select_dtypes("number").columns:
    a, b = base[col].to_numpy(), cur[col].to_numpy()
    ks = stats.ks_2samp(a, b)
    wd = stats.wasserstein_distance(a, b)
    edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)))
    pa = np.histogram(a, edges)[0] / len(a) + 1e-6
    pb = np.histogram(b, edges)[0] / len(b) + 1e-6
    psi = float(np.sum((pb - pa) * np.log(pb / pa)))
    print("%s ks=%.4f p=%.3g wasserstein=%.4f psi=%.4f" % (col, ks.statistic, ks.pvalue, wd, psi))
