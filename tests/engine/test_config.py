"""Config dataclasses: defaults, validation that names the bad field, JSON round trips."""
from __future__ import annotations

import json

import pytest

from classkit.engine.config import (
    PALETTE,
    ClassDef,
    IngestConfig,
    Manifest,
    ProjectSettings,
    check_class_name,
    default_class_defs,
    default_workers,
)
from classkit.engine.errors import ClassKitError, ConfigError


# ----------------------------------------------------------------- defaults
def test_ingest_defaults() -> None:
    cfg = IngestConfig()
    assert cfg.workers == 0
    assert cfg.n_workers == default_workers() >= 1
    assert IngestConfig(workers=3).n_workers == 3
    assert cfg.max_pixels == 178_956_970
    assert cfg.follow_symlinks is True
    assert cfg.video_fps == 1.0 and cfg.video_every_n == 0


def test_project_settings_defaults() -> None:
    s = ProjectSettings()
    assert (s.autosave_ms, s.thumbnail_size, s.thumbnail_quality) == (250, 256, 90)


def test_from_dict_none_and_empty_give_defaults() -> None:
    assert IngestConfig.from_dict(None) == IngestConfig()
    assert IngestConfig.from_dict({}) == IngestConfig()
    assert ProjectSettings.from_dict({}) == ProjectSettings()


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize("data, field", [
    ({"workers": -1}, "workers"),
    ({"workers": 1000}, "workers"),
    ({"workers": "4"}, "workers"),
    ({"workers": 2.0}, "workers"),
    ({"workers": True}, "workers"),
    ({"max_pixels": 0}, "max_pixels"),
    ({"max_file_mb": 0}, "max_file_mb"),
    ({"follow_symlinks": "yes"}, "follow_symlinks"),
    ({"video_fps": 0}, "video_fps"),
    ({"video_fps": "1"}, "video_fps"),
    ({"frame_quality": 101}, "frame_quality"),
    ({"bbox_pad_frac": -0.1}, "bbox_pad_frac"),
    ({"min_crop_px": 0}, "min_crop_px"),
])
def test_ingest_config_bad_value_names_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        IngestConfig.from_dict(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ClassKitError) and isinstance(info.value, ValueError)


def test_where_prefix_is_added_to_field() -> None:
    with pytest.raises(ConfigError) as info:
        IngestConfig.from_dict({"workers": -1}, "ingest")
    assert info.value.field == "ingest.workers"


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        IngestConfig.from_dict({"workers": 1, "wrokers": 2})
    assert info.value.field == "wrokers"
    assert "unknown" in str(info.value) and "workers" in str(info.value)


def test_non_object_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        ProjectSettings.from_dict([1, 2], "settings")  # type: ignore[arg-type]
    assert info.value.field == "settings"


@pytest.mark.parametrize("data, field", [
    ({"autosave_ms": 10}, "autosave_ms"),
    ({"thumbnail_size": 5000}, "thumbnail_size"),
    ({"thumbnail_quality": 5}, "thumbnail_quality"),
    ({"cache_max_mb": -1}, "cache_max_mb"),
])
def test_project_settings_validation(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ProjectSettings.from_dict(data)
    assert info.value.field == field


def test_missing_required_field_is_named() -> None:
    good = Manifest(name="p", schema_version=1, created_at="t", classkit_version="0",
                    project_id="x").to_dict()
    for key in ("name", "schema_version", "created_at", "classkit_version", "project_id"):
        data = {k: v for k, v in good.items() if k != key}
        with pytest.raises(ConfigError) as info:
            Manifest.from_dict(data, "manifest")
        assert info.value.field == f"manifest.{key}", str(info.value)
    with pytest.raises(ConfigError) as info:
        ClassDef.from_dict({"key": "1"})
    assert info.value.field == "name"


def test_manifest_nested_settings_field_named() -> None:
    data = Manifest(name="p", schema_version=1, created_at="t", classkit_version="0",
                    project_id="x").to_dict()
    data["settings"] = {"autosave_ms": 1}
    with pytest.raises(ConfigError) as info:
        Manifest.from_dict(data, "manifest")
    assert info.value.field == "manifest.settings.autosave_ms"
    data["settings"] = {}
    data["ingest"] = {"bogus": 1}
    with pytest.raises(ConfigError) as info:
        Manifest.from_dict(data, "manifest")
    assert info.value.field == "manifest.ingest.bogus"


@pytest.mark.parametrize("key, value", [
    ("name", ""), ("name", 3), ("schema_version", "1"), ("schema_version", 0),
    ("created_at", 5), ("project_id", None), ("last_root", 1),
])
def test_manifest_wrong_type(key: str, value: object) -> None:
    data = Manifest(name="p", schema_version=1, created_at="t", classkit_version="0",
                    project_id="x").to_dict()
    data[key] = value
    with pytest.raises(ConfigError) as info:
        Manifest.from_dict(data)
    assert info.value.field == key


# ----------------------------------------------------------------- classes
@pytest.mark.parametrize("kwargs, field", [
    ({"name": "a", "color": "red"}, "color"),
    ({"name": "a", "color": "#12345"}, "color"),
    ({"name": "a", "color": "#12345g"}, "color"),
    ({"name": "a", "color": 0x123456}, "color"),
    ({"name": "a", "key": "10"}, "key"),
    ({"name": "a", "key": "A"}, "key"),
    ({"name": "a", "key": "!"}, "key"),
    ({"name": "a", "key": 1}, "key"),
    ({"name": "unsure"}, "name"),
    ({"name": "Junk"}, "name"),
    ({"name": " skip "}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"name": "a\tb"}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "a", "description": 3}, "description"),
])
def test_classdef_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ClassDef(**kwargs)
    assert info.value.field == field


def test_reserved_name_message_is_clear() -> None:
    with pytest.raises(ConfigError, match="reserved"):
        check_class_name("unsure")


def test_classdef_strips_name_and_accepts_valid() -> None:
    d = ClassDef(name="  cat ", key="z", color="#A0b0C0")
    assert d.name == "cat"
    assert ClassDef(name="unsure cat").name == "unsure cat"  # only the exact word is reserved


def test_default_class_keys_one_to_nine_then_none() -> None:
    defs = default_class_defs([f"c{i}" for i in range(12)])
    assert [d.key for d in defs] == list("123456789") + ["", "", ""]
    assert [d.color for d in defs] == [PALETTE[i] for i in range(12)]
    assert len({d.color for d in defs}) == 12


def test_default_class_keys_skip_taken() -> None:
    defs = default_class_defs(["a", "b", "c"], taken_keys={"1", "3"}, first_color=2)
    assert [d.key for d in defs] == ["2", "4", "5"]
    assert defs[0].color == PALETTE[2]


def test_default_class_defs_rejects_reserved() -> None:
    with pytest.raises(ConfigError):
        default_class_defs(["cat", "unsure"])


# ----------------------------------------------------------------- round trips
@pytest.mark.parametrize("obj", [
    IngestConfig(),
    IngestConfig(workers=3, max_pixels=1000, follow_symlinks=False, video_fps=2.5,
                 bbox_pad_frac=0.1),
    ProjectSettings(autosave_ms=500, thumbnail_size=128),
    ClassDef(name="cat", key="c", color="#ffffff", description="a cat"),
    Manifest(name="p", schema_version=1, created_at="2024", classkit_version="0.1.0",
             project_id="abc", last_root="/x", settings={"autosave_ms": 300},
             ingest={"workers": 2}),
])
def test_round_trip_through_json(obj: object) -> None:
    data = json.loads(json.dumps(obj.to_dict()))  # type: ignore[attr-defined]
    assert type(obj).from_dict(data) == obj  # type: ignore[attr-defined]


def test_frozen_configs() -> None:
    cfg = IngestConfig()
    with pytest.raises(AttributeError):
        cfg.workers = 3  # type: ignore[misc]


def test_errors_pickle_across_processes() -> None:
    import pickle

    from classkit.engine.errors import Cancelled

    err = pickle.loads(pickle.dumps(ConfigError("ingest.workers", "must be an integer")))
    assert isinstance(err, ConfigError)
    assert err.field == "ingest.workers" and str(err) == "ingest.workers: must be an integer"
    assert str(pickle.loads(pickle.dumps(Cancelled("stopped")))) == "stopped"
