"""JPQD: joint movement-sparsity pruning, quantization-aware training and distillation.

Generic over models: the technique works on nn.Linear layers; a family supplies its training data
and a description of its transformer blocks (see ``FamilyPipeline.trainer_data`` and
``FamilyPipeline.transformer_blocks``).
"""
