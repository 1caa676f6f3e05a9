"""Studies as library functions: a typed config in, a result out, and ``result.save(out)`` for the files.

- :mod:`.common`: the data and simulation settings shared by the studies, and the test loader.
- :mod:`.mst`: the MST studies (accuracy vs T, vs masking ratio, vs masked blocks, option variants,
  Table 3), spike activation maps (Fig. 7) and pretrained Swin weights.
- :mod:`.sdm`: SDMFormer vs Spikformer (Tables 1 and 3) and the analyses of one SDMFormer.
- :mod:`.demo`: the main job (train, mask, convert, measure; Table 3 on MNIST).
- :mod:`.seeds`: one training run per seed, mean ± std.
- :mod:`.evaluate`: one checkpoint evaluated (ANN and SNN accuracy by T, energy), classified or converted.

The ``spikemask`` commands only parse flags into these configs, call these functions and print.
"""
