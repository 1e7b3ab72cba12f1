"""The fuzz suite in CI (issue 20): a few hundred hostile or broken cases through the real CLI,
every front end, run on damaged builds, hostile arrays and options, every -o edge case; none may
crash, hang, blow up memory or delete a user's file. benchmarks/fuzz.py runs ten thousand."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_harness import BAD, classify, run_case
from fuzz_suite import build_assets, categories, run_suite, summary
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_assets(tmp_path_factory.mktemp("fuzz") / "assets")


@pytest.mark.slow
def test_fuzz_suite_has_no_crash_hang_memory_or_data_loss(tmp_path):
    outcomes = run_suite(140, seed=7, root=tmp_path, jobs=2, timeout=120)
    rows = summary(outcomes)
    assert len(outcomes) == 140 and len(rows) == 17  # every category ran
    bad = [o for o in outcomes if o.kind in BAD]
    assert bad == [], bad
    assert sum(r["refused"] for r in rows) > 70  # the cases are hostile: most are refused


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_drawn_case_ends_in_a_result_or_one_sentence(assets, tmp_path_factory, data):
    cats = categories(assets)
    name = data.draw(st.sampled_from(sorted(cats)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    try:
        setup = cats[name][1](np.random.default_rng(seed))
    except Exception:  # noqa: BLE001 - a generator that cannot build its file ("setup" in the suite)
        return
    outcome = run_case(name, str(seed), setup, tmp_path_factory.mktemp("case"), timeout=120)
    assert outcome.kind not in BAD, outcome


@pytest.mark.parametrize(("status", "stderr", "kind"), [
    (0, "", "ok"),
    (2 << 8, "error: x.nir: node 'a' cannot be read\n", "refused"),
    (2 << 8, "notice: m.nir carries no reset mode\nerror: m.nir: bad\n", "refused"),
    (3 << 8, "internal error: KeyError: 'target'\n", "crash"),
    (2 << 8, "error: a\nh5py internals\nmore\n", "crash"),
    (3 << 8, "internal error: MemoryError: Unable to allocate 233. TiB\n", "memory"),
    (9, "", "crash"),  # killed by SIGKILL
    (None, "", "hang"),
])
def test_outcomes_are_classified_as_the_issue_defines_them(status, stderr, kind):
    assert classify(status, stderr)[0] == kind
