"""Intrinsic and extrinsic metrics for synthetic text-classification datasets."""
