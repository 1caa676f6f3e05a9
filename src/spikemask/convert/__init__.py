"""ANN-to-SNN conversion (QCFS → IF neurons) and simulation of the converted network."""
