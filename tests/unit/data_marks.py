"""Marks for unit tests that read the training data in ../shared/data."""

from __future__ import annotations

import pytest

from ponder import env

needs_data = pytest.mark.skipif(
    not (env.data_dir() / "mawps_asdiv_train.jsonl").is_file(), reason="../shared/data not present"
)
