"""The Masked Spiking Transformer: Swin with BatchNorm, spiking window attention, pretrained-weight mapping."""
