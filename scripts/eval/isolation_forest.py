#!/usr/bin/env python3
"""IsolationForest baseline for `veritrail eval anomalies`.

Reads the feature matrix the Rust detector built (CSV: `row`, key columns, then one column per
feature), fits scikit-learn's IsolationForest with a fixed random_state on all rows, and writes
`row,score` where a higher score is more anomalous (the negated `score_samples`).

Usage: isolation_forest.py FEATURES_CSV SCORES_CSV [--key-columns N]
"""

import argparse
import csv
import sys

import numpy as np
from sklearn.ensemble import IsolationForest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features")
    parser.add_argument("scores")
    parser.add_argument("--key-columns", type=int, default=3, help="leading non-feature columns, row id first")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args()

    with open(args.features, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    if not rows:
        print("no rows in the feature matrix", file=sys.stderr)
        return 1
    ids = [row[0] for row in rows]
    matrix = np.array([[float(value) for value in row[args.key_columns:]] for row in rows], dtype=float)
    print(f"IsolationForest on {matrix.shape[0]} rows x {matrix.shape[1]} features ({len(header)} columns)",
          file=sys.stderr)

    forest = IsolationForest(n_estimators=args.trees, random_state=args.random_state)
    forest.fit(matrix)
    scores = -forest.score_samples(matrix)

    with open(args.scores, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "score"])
        for row_id, score in zip(ids, scores):
            writer.writerow([row_id, f"{score:.9f}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
