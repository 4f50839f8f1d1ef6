#!/usr/bin/python3
"""A predictor process for `mlops deploy serve`, using scikit-learn.

The server starts this program in the model folder and keeps it running.
It reads one JSON request a line on stdin,

    {"columns": ["mean_radius", ...], "data": [[17.99, ...], ...]}

and writes one JSON answer a line on stdout,

    {"predictions": [0, 1, ...]}

or {"error": "..."} for a request it cannot answer (the client then gets
400 with that message).  The model is model.pkl in $MLOPS_MODEL_DIR: a
pickled dict {"model": a fitted estimator, "columns": its input columns},
as train.py writes it.  Only load pickles you made yourself.
"""
import json
import os
import pickle
import sys

import numpy as np


def main():
    folder = os.environ.get("MLOPS_MODEL_DIR", ".")
    with open(os.path.join(folder, "model.pkl"), "rb") as f:
        bundle = pickle.load(f)
    model, columns = bundle["model"], bundle["columns"]
    for line in sys.stdin:
        try:
            req = json.loads(line)
            have = req["columns"]
            missing = [c for c in columns if c not in have]
            if missing:
                raise ValueError("missing column '%s'" % missing[0])
            pos = [have.index(c) for c in columns]
            X = np.array([[row[i] for i in pos] for row in req["data"]], dtype=float)
            if len(X) == 0:
                answer = {"predictions": []}
            else:
                answer = {"predictions": model.predict(X).tolist()}
        except (KeyError, TypeError, ValueError) as e:
            answer = {"error": str(e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
