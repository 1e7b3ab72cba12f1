"""Per-neuron spike rates of an Activity, in the form `partition(..., rates=)` takes.

Why per neuron: the placement weighs a route by the spikes of the exact source neurons it
carries (partition/rates.py), so the estimate and the benchmark hand it every neuron's mean
rate (spikes per hw step, averaged over steps and samples), not one mean per layer.
"""

from __future__ import annotations

import numpy as np

from snncompile.estimate.activity import Activity


def neuron_rates(act: Activity) -> dict[str, np.ndarray]:
    """layer or graph input -> (neurons,) mean spikes (input: non-zero entries) per hw step."""
    rates = {name: la.spikes.mean(axis=0) for name, la in act.layers.items()}
    rates[act.input_name] = act.input_events.mean(axis=0)
    return rates
