"""Student distillation: fine-tuning, dataset-cartography filtering and baselines."""
