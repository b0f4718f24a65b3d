"""Training of the InSpatio-World causal DiT (JDMD: V2V + T2V branches with shared weights), LoRA fine-tuning,
the ODE-regression distillation to the 4-step sampler, and the training memory estimate.

Same model classes (:class:`~inspatio_drive.world_model.model.CausalWanDiT`) and the same checkpoint format
(safetensors, ``model.`` prefix) as the inference, so a trained checkpoint loads with ``build_generator``.
Entry point: ``inspatio-drive train-world-model`` (:func:`.trainer.train_world_model`).
"""
