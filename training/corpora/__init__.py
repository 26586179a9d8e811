"""Fetch and prepare the default training corpora from pinned public sources.

    python -m training.corpora fetch [lovecraft|poems|names|fables|all] [--dest DIR]

The manifest (manifest.json here) pins every source file by repository, commit, path and
sha256, and records the sha256 of the corpus the preparation should produce and of the corpus
the shipped models were trained on, so a rebuilt corpus that differs is reported.
"""
