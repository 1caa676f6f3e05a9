"""Convolutional networks for conversion: ResNet-18 and VGG-16 with QCFS spike sites."""
