"""The parameter table, the shipped YAML and the launch file agree (no ROS graph needed)."""

import ast
import re

import pytest
import yaml
from ros_graph import PARAMS, ROOT

from mot_ros.ros.parameters import PARAMETERS, build_config


def _flatten(d, prefix=""):
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.fixture(scope="module")
def yaml_params():
    doc = yaml.safe_load(PARAMS.read_text())
    assert list(doc) == ["/**"], "the file must apply to the node under any name/namespace"
    return _flatten(doc["/**"]["ros__parameters"])


def test_yaml_names_are_exactly_the_declared_parameters(yaml_params):
    declared = {p.name for p in PARAMETERS}
    assert set(yaml_params) - declared == set(), "YAML names the node does not declare"
    assert declared - set(yaml_params) == set(), "declared parameters missing from the YAML"


def test_yaml_values_equal_the_node_defaults(yaml_params):
    # one default in two places must not drift: the node's table wins, the YAML shows it
    for p in PARAMETERS:
        assert yaml_params[p.name] == p.default, f"{p.name}: yaml {yaml_params[p.name]!r}"


def test_yaml_builds_a_valid_config(yaml_params):
    config = build_config(yaml_params)
    # 0 in the YAML means "the preset's threshold", which the config resolves to a number
    assert yaml_params["detector.confidence_threshold"] == 0.0
    preset = config.detector.applied_preset
    assert preset is not None and preset.name == yaml_params["detector.preset"]
    assert config.detector.confidence_threshold == preset.confidence_threshold
    assert config.node.reliability == "best_effort" and config.node.queue_depth == 1


def test_every_parameter_has_a_description_and_a_range_or_choice_where_it_matters():
    for p in PARAMETERS:
        assert len(p.description) > 20, p.name
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert p.min is not None and p.max is not None, f"{p.name} needs a range"
            assert p.min <= p.default <= p.max, p.name


@pytest.mark.parametrize(
    "values, message",
    [
        # a value outside a declared range names the parameter and the range
        ({"detector.confidence_threshold": 1.5}, r"'detector.confidence_threshold' must be in"),
        # an enumeration fails fast on an unknown string
        ({"reliability": "sometimes"}, r"'reliability' must be one of"),
        ({"detector.model_format": "yolo"}, r"'detector.model_format' must be one of"),
        # a name nobody declares is a typo, not something to ignore
        ({"detector.treshold": 0.4}, r"unknown parameter\(s\): detector.treshold"),
        # cross-field checks done by the configs themselves still name the field
        ({"detector.mean": [1.0, 2.0]}, r"detector.mean"),
        ({"tracker.min_hits": 0}, r"min_hits"),
    ],
)
def test_bad_values_are_rejected_with_the_parameter_name(values, message):
    with pytest.raises(ValueError, match=message):
        build_config(values)


def test_preprocessing_sentinels_map_to_format_defaults():
    config = build_config({"detector.scale": 0.0, "detector.mean": [], "detector.swap_rb": "auto"})
    assert (config.detector.scale, config.detector.mean, config.detector.swap_rb) == (
        None,
        None,
        None,
    )
    config = build_config(
        {"detector.scale": 0.5, "detector.mean": [1.0, 2.0, 3.0], "detector.swap_rb": "false"}
    )
    assert (config.detector.scale, config.detector.mean, config.detector.swap_rb) == (
        0.5,
        (1.0, 2.0, 3.0),
        False,
    )


def test_launch_file_only_passes_the_yaml_and_remaps():
    """launch cannot run here: check what it would do as far as the source tells."""
    source = (ROOT / "launch" / "mot.launch.py").read_text()
    tree = ast.parse(source)
    args = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument"
    }
    assert {"image", "params_file", "namespace", "use_sim_time"} <= args
    assert '"config", "mot.yaml"' in source and '"config", "fastdds_shm.xml"' in source
    assert '("image", image)' in source, "the image topic is remapped from the argument"
    assert 'executable="mot_node"' in source and 'package="mot_ros"' in source
    # no node parameter is set in the launch file: the YAML is the only source
    declared = {p.name for p in PARAMETERS}
    assert not any(re.search(rf'"{re.escape(n)}"', source) for n in declared if "." in n)


def test_setup_installs_what_the_launch_file_needs():
    setup = (ROOT / "setup.py").read_text()
    for needle in (
        "launch/*.launch.py",
        "config/*.yaml",
        "config/*.xml",
        "share/ament_index/resource_index/packages",
        "mot_node = mot_ros.ros.node:main",
    ):
        assert needle in setup
    assert (ROOT / "resource" / "mot_ros").exists()
    assert (ROOT / "setup.cfg").read_text().count("$base/lib/mot_ros") == 2


def test_readme_parameter_table_is_the_generated_one():
    import subprocess
    import sys

    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "param_table.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- params:begin -->\n", "\n<!-- params:end -->"
    assert begin in readme and end in readme
    documented = readme.split(begin, 1)[1].split(end, 1)[0].strip()
    assert documented == table, "README parameters differ: paste scripts/param_table.py output"
