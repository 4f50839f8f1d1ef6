#!/usr/bin/python3
"""train.py - a scikit-learn training script run by `mlops train`.

    mlops train -d cancer -p C=1.0 -p max_iter=500 -- /usr/bin/python3 examples/train/train.py

It reads the contract `mlops train` sets up: the params (a JSON file, typed),
the dataset (the first MLOPS_INPUT_<NAME>: a CSV file, or a directory
holding one), a directory for the model, and a file for the metrics.  The
target is the last column unless the param "target" names another.
"""
import csv
import json
import os
import pickle
import sys

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def find_table(path):
    if os.path.isfile(path):
        return path
    for root, _, files in sorted(os.walk(path)):
        for f in sorted(files):
            if f.endswith(".csv"):
                return os.path.join(root, f)
    sys.exit("train.py: no CSV file in " + path)


def main():
    with open(os.environ["MLOPS_PARAMS"]) as f:
        params = json.load(f)
    inputs = sorted(k for k in os.environ if k.startswith("MLOPS_INPUT_"))
    if not inputs:
        sys.exit("train.py: no input; give one with -d DATASET")
    with open(find_table(os.environ[inputs[0]]), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    target = params.get("target", header[-1])
    t = header.index(target)
    X = [[float(v) for i, v in enumerate(r) if i != t] for r in rows]
    y = [r[t] for r in rows]
    X_train, X_valid, y_train, y_valid = train_test_split(
        X, y, test_size=params.get("valid_frac", 0.2), random_state=params.get("seed", 0))
    model = make_pipeline(StandardScaler(), LogisticRegression(
        C=params.get("C", 1.0), max_iter=params.get("max_iter", 1000)))
    model.fit(X_train, y_train)
    pred = model.predict(X_valid)
    metrics = {
        "accuracy": accuracy_score(y_valid, pred),
        "f1_macro": f1_score(y_valid, pred, average="macro"),
        "log_loss": log_loss(y_valid, model.predict_proba(X_valid)),
        "train": {"accuracy": accuracy_score(y_train, model.predict(X_train))},
    }
    print("run %s: %d training rows, validation accuracy %.4f" % (
        os.environ["MLOPS_RUN_ID"], len(X_train), metrics["accuracy"]))
    with open(os.path.join(os.environ["MLOPS_OUTPUT"], "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    with open(os.environ["MLOPS_METRICS"], "w") as f:
        json.dump(metrics, f)


if __name__ == "__main__":
    main()
