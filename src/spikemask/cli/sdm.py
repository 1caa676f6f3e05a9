"""``spikemask sdm compare|analyze``: SDMFormer vs Spikformer size and energy, and the paper's analyses.

``compare`` prints Table 1 (parameter ratio) and Table 3 (energy ratio, Table 2 model) for two
checkpoints on the test split; ``analyze`` reports one checkpoint's masking ratios (§4.2), block firing
rates (Fig. 6), inactive-channel ratios after an SSA (Fig. 1a), position-encoding heatmaps (Fig. 4)
and energy. Both write JSON into ``--out``; the work is done by :mod:`spikemask.studies.sdm`.
"""
from __future__ import annotations

import argparse

from spikemask.cli.common import add_out_arg
from spikemask.cli.options import add_options, config_from_args
from spikemask.report.tables import sdm_energy_table
from spikemask.studies import sdm


def run_compare(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, sdm.CompareConfig)
    result = sdm.compare(cfg)
    print(sdm_energy_table(result.measures["energy"]))
    p = result.measures["params"]
    print(f"parameters: Spikformer {p['spikformer']['dense']:,}, SDMFormer {p['sdmformer']['pruned']:,} after "
          f"masking (dense {p['sdmformer']['dense']:,}) -> ratio {100 * p['ratio']:.2f} % (Table 1)")
    print(f"energy: ratio {100 * result.measures['energy']['ratio']:.2f} % (Table 3; S_Conv = {cfg.rate} firing rate)")
    print(f"wrote {result.save(args.out)}")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    cfg = config_from_args(args, sdm.AnalyzeConfig)
    result = sdm.analyze(cfg)
    for name, rate in result.firing_rates.items():
        masked = result.mask_ratios.get(name, {}).get("masked_ratio", 0.0)
        print(f"{name:22s} masked {100 * masked:5.1f} %   firing rate {rate:.4f}")
    inactive = result.inactive_channels
    print(f"inactive channels after SSA of block {cfg.block}: mean {inactive['mean']:.3f}, "
          f"median {inactive['median']:.3f}; energy {result.energy['total_pj']:.4g} pJ/sample; "
          f"parameters {result.params['pruned']:,} (dense {result.params['dense']:,})")
    print(f"wrote {result.save(args.out)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sdm", help="SDMFormer vs Spikformer: size/energy ratios and the paper's analyses",
                       description=__doc__.splitlines()[0].split(": ", 1)[-1])
    actions = p.add_subparsers(dest="sdm_command", metavar="ACTION", required=True, parser_class=type(p))
    c = actions.add_parser("compare", help="Table 1 / Table 3 ratios of two checkpoints on the test split")
    add_options(c, sdm.CompareConfig)
    add_out_arg(c, "runs/sdm", "folder for sdm_compare.json")
    c.set_defaults(func=run_compare)
    a = actions.add_parser("analyze", help="masking ratios, firing rates, inactive channels, heatmaps, energy")
    add_options(a, sdm.AnalyzeConfig)
    add_out_arg(a, "runs/sdm", "folder for sdm_analysis.json")
    a.set_defaults(func=run_analyze)
