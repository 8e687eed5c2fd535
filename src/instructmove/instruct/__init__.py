"""Instruction writing: an MLLM client over the openai package, and an offline writer from motion statistics."""
