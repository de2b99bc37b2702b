"""The bottom layer: the typed config schema, the run store and fingerprints, offline assets and the error
classes. It imports nothing else of this project; `metrics/` and `distill/` import only this layer."""
