"""Reads a folder in Neuronpedia's export layout with Python's own gzip and
json, checks every row's fields against the columns of Neuronpedia's tables
(those neuronpedia-utils' export-data.py writes, `createdAt` and `dataIndex`,
which SAEDashboard's converter writes too, and ExplanationScore's), plus our
`featurescope` object, and that the columns its importer requires hold a
value; prints the rows per table as JSON: an independent check of
`featurescope export neuronpedia`.

Usage: read_neuronpedia_export.py DIR
"""
import gzip
import json
import pathlib
import sys

# hijohnnylin/neuronpedia, utils/neuronpedia-utils/neuronpedia_utils/export-data.py
# (column lists) and apps/webapp/prisma/schema.prisma (ExplanationScore).
COLUMNS = {
    "features": """modelId layer index maxActApprox creatorId frac_nonzero
        freq_hist_data_bar_heights freq_hist_data_bar_values
        logits_hist_data_bar_heights logits_hist_data_bar_values
        neuron_alignment_indices neuron_alignment_l1 neuron_alignment_values
        correlated_neurons_indices correlated_neurons_l1 correlated_neurons_pearson
        decoder_weights_dist neg_str neg_values pos_str pos_values sourceSetName
        topkCosSimIndices topkCosSimValues vector vectorLabel hookName
        vectorDefaultSteerStrength hasVector""",
    "activations": """id modelId layer index creatorId dataSource tokens maxValue
        minValue values maxValueTokenIndex dfaValues dfaMaxValue dfaTargetIndex
        binContains binMin binMax dataIndex""",
    "explanations": """id modelId layer index authorId description embedding typeName
        explanationModelName umap_x umap_y umap_cluster umap_log_feature_sparsity
        createdAt""",
    "explanation_scores": """id initiatedByUserId value explanationId
        explanationScoreTypeName explanationScoreModelName jsonDetails createdAt""",
}
# Required (no default in schema.prisma) for Neuronpedia's importer to create the rows.
REQUIRED = {
    "features": "modelId layer index",
    "activations": "id modelId layer index creatorId tokens values maxValue minValue maxValueTokenIndex",
    "explanations": "id modelId layer index authorId description typeName explanationModelName",
    "explanation_scores": "id value explanationId explanationScoreTypeName explanationScoreModelName",
    "model": "id displayName layers neuronsPerLayer owner creatorId",
    "source": "id modelId setName creatorId",
    "sourceset": "modelId name creatorName creatorId",
}
COLUMNS["model"] = REQUIRED["model"]
COLUMNS["source"] = REQUIRED["source"]
COLUMNS["sourceset"] = REQUIRED["sourceset"] + " type description"
COLUMNS = {table: set(names.split()) | {"featurescope"} for table, names in COLUMNS.items()}


def check(row, table, where):
    extra = set(row) - COLUMNS[table]
    assert not extra, f"{where}: not Neuronpedia columns: {sorted(extra)}"
    missing = [c for c in REQUIRED[table].split() if row.get(c) is None]
    assert not missing, f"{where}: required columns without a value: {missing}"


root = pathlib.Path(sys.argv[1])
rows = {table: 0 for table in COLUMNS}
for path in sorted(root.glob("v1/*/*/*/batch-*.jsonl.gz")):
    table = path.parent.name
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            row = json.loads(line)
            check(row, table, f"{path}:{number}")
            if table != "explanation_scores":
                assert isinstance(row["index"], str), f"{path}:{number}: index is not text"
                assert row["layer"] == path.parent.parent.name, f"{path}:{number}: layer"
                assert int(row["index"]) // 1024 == int(path.name[6:].split(".")[0]), path
            rows[table] += 1
for meta in ("model", "source", "sourceset"):
    for path in root.glob(f"v1/*/*/{meta}.jsonl"):
        check(json.loads(path.read_text()), meta, path)
print(json.dumps(rows))
