"""Training: one loop for QCFS ANNs and directly trained SNNs, with distillation."""
