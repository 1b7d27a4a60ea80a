"""The other people's frames (SR training only, ``srgan_other``): drawn per person from the seed,
without anyone of the recognition set, with a leakage audit by person."""
from __future__ import annotations

import pandas as pd
import pytest

from faceless.data.sampling import SamplingConfig, sample_other
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

from .test_sampling_forced_test import conf

COLUMNS = ["person", "video", "sequence", "frame", "label", "person_name", "path", "hr_path"]


def config(**other) -> SamplingConfig:
    params = {**conf("sampling"), "workers": 1}
    params["other"] = {**params["other"], **other}
    return from_params(SamplingConfig, params, "sampling")


def other_index(names: list[str], frames: int, hr_only: bool = False) -> pd.DataFrame:
    rows = []
    for number, name in enumerate(names):
        for f in range(frames):
            video, seq = 3 + f // 6, 1 + (f // 3) % 2
            hr = f"/other/hr/{name}/video_{video:04d}/seq_{seq:04d}/frame_{f:05d}.png"
            rows.append((number, video, seq, 10 + f, number, name, None if hr_only else hr.replace("hr", "lr"), hr))
    return pd.DataFrame(rows, columns=COLUMNS)


def split_index(names: list[str]) -> pd.DataFrame:
    """A recognition split with each of ``names`` on every side."""
    rows = [(p, 1, 1, 1, p, name, f"/r/{name}.jpg", side)
            for p, name in enumerate(names) for side in ("train", "val", "test")]
    return pd.DataFrame(rows, columns=["person", "video", "sequence", "frame", "label", "person_name", "path", "side"])


RECOGNITION = split_index([f"person_{p:04d}" for p in range(4)])


def test_frames_per_person_drawn_without_replacement_in_temporal_order():
    index = other_index(["person_0004", "person_0005", "person_0006"], frames=20)
    sample, report = sample_other(index, RECOGNITION, config(frames_per_person=7))
    assert sample.groupby("person_name").size().to_dict() == {"person_0004": 7, "person_0005": 7, "person_0006": 7}
    assert not sample.duplicated(["person", "video", "sequence", "frame"]).any()
    for _, rows in sample.groupby("person"):
        assert rows[["video", "sequence", "frame"]].apply(tuple, axis=1).is_monotonic_increasing
    assert report["frames"] == 21 and report["people"] == 3 and report["short_people"] == {}
    assert report["leakage_other"] == {f"other_vs_{s}": {"people": 0} for s in ("train", "val", "test")}
    assert report["dropped_people"] == {"count": 0, "frames": 0, "names": []}


def test_the_draw_is_deterministic_from_the_seed_and_follows_the_name():
    index = other_index(["a", "b"], frames=30)
    first, _ = sample_other(index, RECOGNITION, config(frames_per_person=5))
    again, _ = sample_other(index, RECOGNITION, config(frames_per_person=5))
    pd.testing.assert_frame_equal(first, again)
    reseeded, _ = sample_other(index, RECOGNITION, from_params(
        SamplingConfig, {**conf("sampling"), "seed": 7, "other": {"frames_per_person": 5, "scale": 4}}, "sampling"))
    assert not first["frame"].equals(reseeded["frame"])
    # Person "b" draws the same frames whether or not "a" is in the set.
    alone, _ = sample_other(index[index["person_name"] == "b"], RECOGNITION, config(frames_per_person=5))
    assert list(alone["frame"]) == list(first.loc[first["person_name"] == "b", "frame"])


def test_a_short_person_gives_all_their_frames_and_null_takes_every_frame():
    index = pd.concat([other_index(["x"], frames=3), other_index(["y"], frames=12).assign(person=1, label=1)])
    sample, report = sample_other(index, RECOGNITION, config(frames_per_person=5))
    assert sample.groupby("person_name").size().to_dict() == {"x": 3, "y": 5}
    assert report["short_people"] == {"x": 3}
    every, report = sample_other(index, RECOGNITION, config(frames_per_person=None))
    assert len(every) == 15 and report["frames_per_person"] is None


def test_a_person_also_in_the_recognition_set_is_dropped_and_counted():
    index = other_index(["person_0002", "person_0009", "person_0003"], frames=6)
    sample, report = sample_other(index, RECOGNITION, config(frames_per_person=4))
    assert set(sample["person_name"]) == {"person_0009"}
    assert report["dropped_people"] == {"count": 2, "frames": 12, "names": ["person_0002", "person_0003"]}
    assert report["leakage_other"] == {f"other_vs_{s}": {"people": 0} for s in ("train", "val", "test")}


def test_everyone_shared_leaves_no_data_and_says_so():
    sample, report = sample_other(other_index(["person_0001"], frames=4), RECOGNITION, config(frames_per_person=4))
    assert sample.empty and report["frames"] == 0 and "srgan_other has no data" in report["note"]


def test_hr_only_index_is_reported():
    _, report = sample_other(other_index(["q"], frames=4, hr_only=True), RECOGNITION, config(frames_per_person=2))
    assert report["lr_from_hr"] is True and report["scale"] == 4
    _, report = sample_other(other_index(["q"], frames=4), RECOGNITION, config(frames_per_person=2))
    assert report["lr_from_hr"] is False


@pytest.mark.parametrize(("other", "name"), [({"frames_per_person": 0}, "sampling.other.frames_per_person"),
                                            ({"scale": 1}, "sampling.other.scale"),
                                            ({"frames": 10}, "sampling.other.frames"),
                                            ({"scale": "4"}, "sampling.other.scale")])
def test_bad_other_params_are_one_config_error_line(other, name):
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")) as err:
        config(**other)
    assert "\n" not in str(err.value)
