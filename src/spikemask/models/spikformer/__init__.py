"""Directly trained spiking transformers: Spikformer, SDMFormer and physical pruning of its masked channels."""
