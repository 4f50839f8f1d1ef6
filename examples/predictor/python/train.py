#!/usr/bin/python3
"""Train the example predictor's model: a scikit-learn pipeline
(StandardScaler, LogisticRegression) on a CSV file.

    /usr/bin/python3 train.py DATA.csv TARGET OUT_DIR

writes OUT_DIR/model.pkl, copies predict.py there and writes
OUT_DIR/record.json naming the predictor command, so that
`mlops deploy serve OUT_DIR` serves it.
"""
import json
import os
import pickle
import shutil
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: train.py DATA.csv TARGET OUT_DIR")
    data, target, out = sys.argv[1:]
    df = pd.read_csv(data)
    columns = [c for c in df.columns if c != target]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(df[columns].to_numpy(dtype=float), df[target])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.pkl"), "wb") as f:
        pickle.dump({"model": model, "columns": columns}, f)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "predict.py"), out)
    with open(os.path.join(out, "record.json"), "w") as f:
        json.dump({"format": "mlops-release", "name": "sklearn-logistic",
                   "predict": "/usr/bin/python3 predict.py"}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
