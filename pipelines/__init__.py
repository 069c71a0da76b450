"""Model families: everything that knows a model's inputs, data and metric."""
