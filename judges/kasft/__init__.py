"""KASFT data and training: examples for the judge and the extractor from gold graphs, LoRA
training, and running and scoring an extractor. The names users need are on
:mod:`kgjudge.judges`."""
