"""runtime.postprocess: probability map -> mask at the original size, without regions below the spec's floor."""

from __future__ import annotations

import numpy as np
import pytest

from tumorscope.runtime.postprocess import mask_at_size


def _map_with_spots() -> np.ndarray:
    """A 64x64 probability map with a 12x12 region (3.5 % of the map) and a 2x2 speck (0.1 %)."""
    probability = np.zeros((64, 64), np.float32)
    probability[10:22, 10:22] = 0.9
    probability[50:52, 50:52] = 0.9
    return probability


def test_without_a_floor_every_region_is_kept():
    mask = mask_at_size(_map_with_spots(), (64, 64), 0.5)
    assert mask[15, 15] and mask[50, 50] and mask.sum() == 144 + 4


@pytest.mark.parametrize("size", [(64, 64), (128, 200)])
def test_regions_below_the_floor_are_dropped_at_the_output_size(size):
    mask = mask_at_size(_map_with_spots(), size, 0.5, min_region_pct=0.5)
    kept = mask_at_size(_map_with_spots(), size, 0.5)
    speck = np.zeros(size, bool)
    speck[size[0] * 3 // 4 :, size[1] * 3 // 4 :] = True
    assert mask.shape == size and mask.any() and not (mask & speck).any()
    assert np.array_equal(mask, kept & ~speck)


def test_a_floor_above_every_region_empties_the_mask_and_an_empty_map_stays_empty():
    assert not mask_at_size(_map_with_spots(), (64, 64), 0.5, min_region_pct=5.0).any()
    assert not mask_at_size(np.zeros((8, 8), np.float32), (32, 32), 0.5, min_region_pct=0.1).any()


def test_the_floor_counts_eight_connected_pixels_as_one_region():
    probability = np.zeros((10, 10), np.float32)
    probability[[2, 3, 4], [2, 3, 4]] = 0.9  # a diagonal of 3 pixels: one 8-connected region of 3 % of the map
    assert mask_at_size(probability, (10, 10), 0.5, min_region_pct=2.9).sum() == 3
    assert not mask_at_size(probability, (10, 10), 0.5, min_region_pct=3.1).any()
