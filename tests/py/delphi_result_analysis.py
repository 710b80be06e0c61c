"""Delphi's own arithmetic (PyPI eai-delphi, delphi/log/result_analysis.py) on
the answers featurescope stored.

Reads, on stdin, a list of score rows: {"method", "activating" (the truth of
each example, from the dataset's records), "simulated" (the row as stored)}.
Detection and fuzz rows are written as Delphi's score files, one latent per
row, and read back with Delphi's `load_data`. Each row's score is then the
"accuracy" of `compute_classification_metrics(compute_confusion(...))` for its
latent, and `pooled` holds `get_agg_metrics` over every row of a method (its
confusion counts pooled, and `compute_auc`). Embedding rows: sklearn's
`roc_auc_score`, which Delphi's embedding scorer reports. Intruder rows: the
share of prompts whose pick is the intruder (Delphi's `IntruderResult.correct`,
false when the reply was unread).

Writes {"rows": [score per row], "pooled": {method: metrics}} on stdout.
"""
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from delphi.log.result_analysis import (
    compute_classification_metrics,
    compute_confusion,
    get_agg_metrics,
    load_data,
)
from sklearn.metrics import roc_auc_score

MODULE = "layer"


def delphi_examples(row):
    """The row's examples as Delphi's classifier outputs, checking that the
    stored truth is the dataset's."""
    out = []
    for truth, stored in zip(row["activating"], row["simulated"]):
        assert stored[0] == float(truth), (stored, truth)
        prediction = bool(stored[1]) if len(stored) > 1 else None
        probability = stored[2] if len(stored) > 2 else None
        out.append(
            {
                "str_tokens": ["x"],
                "distance": 0,
                "activating": truth,
                "prediction": prediction,
                "probability": probability,
                "correct": prediction == truth if prediction is not None else None,
                "activations": [0.0],
            }
        )
    return out


def main():
    rows = json.load(sys.stdin)
    # Delphi prints notes (missing firing counts) on stdout, where the result goes.
    with contextlib.redirect_stdout(sys.stderr):
        result = analyse(rows)
    json.dump(result, sys.stdout)


def analyse(rows):
    scores = [None] * len(rows)
    pooled = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "scores"
        for i, row in enumerate(rows):
            method = row["method"]
            if method in ("detection", "fuzz"):
                folder = root / method
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{MODULE}_latent{i}.json"
                path.write_text(json.dumps(delphi_examples(row)))
            elif method == "embedding":
                scores[i] = roc_auc_score(
                    row["activating"], [s[0] for s in row["simulated"]]
                )
            elif method == "intruder":
                picks = row["simulated"]
                correct = sum(1 for p in picks if p and p[0] == p[1])
                scores[i] = correct / len(picks)
        if root.exists():
            df, counts = load_data(root, [MODULE])
            for (method, latent), group in df.groupby(["score_type", "latent_idx"]):
                metrics = compute_classification_metrics(compute_confusion(group))
                scores[int(latent)] = float(metrics["accuracy"])
            for _, agg in get_agg_metrics(df, counts).iterrows():
                pooled[agg["score_type"]] = {
                    "balanced_accuracy": float(agg["accuracy"]),
                    "precision": float(agg["precision"]),
                    "recall": float(agg["recall"]),
                    "f1": float(agg["f1_score"]),
                    "auc": None if agg["auc"] is None else float(agg["auc"]),
                    "examples": int(agg["total_examples"]),
                }
    return {"rows": scores, "pooled": pooled}


if __name__ == "__main__":
    main()
