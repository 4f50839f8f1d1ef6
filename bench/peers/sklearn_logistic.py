#!/usr/bin/python3
"""sklearn_logistic.py FILE TARGET - the peer of `mlops train --builtin
logistic`: read the CSV with pandas, hold out 20%, standardize, fit
LogisticRegression (lbfgs), print the held-out accuracy."""
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

df = pd.read_csv(sys.argv[1])
y = df.pop(sys.argv[2]).to_numpy()
X = df.to_numpy(dtype="float64")
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression(solver="lbfgs", max_iter=1000))
model.fit(Xtr, ytr)
print("accuracy %.4f" % model.score(Xte, yte))
