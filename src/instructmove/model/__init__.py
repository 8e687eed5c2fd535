"""The editing model: conditioning, presets, Lightning training and the inference pipeline.

Heavy imports (torch, diffusers) stay in the submodules, so that reading params stays fast.
"""
