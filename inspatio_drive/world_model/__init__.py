"""InSpatio-World STAR generator: the causal Wan2.1-1.3B DiT, its 4-step sampler and block-wise rollout.

Import the pieces from their modules (``model``, ``rollout``, ``checkpoint``, ``generator``...); this package
imports nothing heavy at import time.
"""
