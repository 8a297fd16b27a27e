"""The instruction-data filter (``kgjudge filter``): reading instruction examples, the filter
judges (``direct.v1``, ``meta_ranking.v1``, ``kg_grounded.v1``) and the resumable run. The names
users need are on :mod:`kgjudge.judges`."""
